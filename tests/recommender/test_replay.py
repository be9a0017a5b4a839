"""The replay protocol (recommender.evaluation.replay) on data whose answer is known."""

from __future__ import annotations

import pandas as pd
import pytest

from recommender.config import RealtimeConfig
from recommender.errors import ConfigError
from recommender.evaluation.replay import prepare_replay, replay_models
from recommender.synth import synthesize

DAY = 86_400
WEIGHTS = {"view": 1.0, "purchase": 4.0, "impression": 0.0}


def frame(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {"user_id": [r[0] for r in rows], "item_id": [r[1] for r in rows],
         "event": [r[2] for r in rows],
         "timestamp": pd.to_datetime([r[3] for r in rows], unit="s", utc=True)})


def events() -> pd.DataFrame:
    # cut at the 0.34 quantile of time (day 4.74): days 1-4 train, 5-9 test
    return frame([
        ("u1", "a", "view", 1 * DAY), ("u1", "b", "view", 2 * DAY),
        ("u2", "a", "view", 3 * DAY), ("u2", "c", "view", 4 * DAY),
        ("u1", "c", "view", 5 * DAY), ("u1", "a", "view", 6 * DAY),  # revealed: c, a
        ("u1", "b", "impression", 6 * DAY + 1),  # weight 0: never revealed nor relevant
        ("u1", "d", "view", 7 * DAY), ("u1", "b", "view", 8 * DAY),  # d relevant; b had it
        ("u3", "c", "view", 9 * DAY), ("u3", "d", "view", 9 * DAY + 1),  # new after the cut
        ("u3", "e", "purchase", 9 * DAY + 2),
    ])


def test_the_first_events_are_revealed_and_the_seen_ones_are_not_relevant() -> None:
    data = prepare_replay(events(), reveal=2, ratio=0.34, weights=WEIGHTS)
    items = data.train.items
    assert list(data.user_ids) == ["u1", "u3"]
    assert data.revealed[0] == [items.get("c"), items.get("a")]
    assert data.relevant[0].indices.tolist() == [data.train.shape[1]]  # d: not in train
    assert data.cold.tolist() == [False, True]  # u3 came after the cut
    assert data.revealed[1] == [items.get("c")]  # d is unknown to the model
    assert data.summary["eval_users"] == 2 and data.summary["hidden_users"] == 0


def test_a_repeatable_item_stays_relevant() -> None:
    data = prepare_replay(events(), reveal=2, ratio=0.34, weights=WEIGHTS,
                          repeatable_items={"b"})
    assert data.relevant[0].nnz == 2  # d and b again


def test_cold_share_hides_whole_histories_seeded() -> None:
    data = prepare_replay(events(), reveal=2, cold_share=1.0, ratio=0.34, weights=WEIGHTS)
    assert data.cold.all() and data.summary["hidden_users"] == 2
    again = prepare_replay(events(), reveal=2, cold_share=1.0, ratio=0.34, weights=WEIGHTS)
    assert again.summary == data.summary


def test_bad_options_are_refused() -> None:
    with pytest.raises(ConfigError, match="--reveal"):
        prepare_replay(events(), reveal=0)
    with pytest.raises(ConfigError, match="--ratio"):
        prepare_replay(events(), reveal=1, ratio=1.0, weights=WEIGHTS)
    with pytest.raises(ConfigError, match="--cold-share"):
        prepare_replay(events(), reveal=1, cold_share=1.5)
    with pytest.raises(ConfigError, match="no test user"):
        prepare_replay(events(), reveal=50, ratio=0.34, weights=WEIGHTS)


@pytest.fixture(scope="module")
def shop() -> pd.DataFrame:
    return synthesize(users=600, items=150, days=30, seed=3).events


def test_live_events_help_new_and_known_users_on_the_synthetic_shop(shop: pd.DataFrame) -> None:
    data = prepare_replay(shop, reveal=3, cold_share=0.3, seed=1)
    result = replay_models(["pop", "itemknn"], data, k=10, config=RealtimeConfig())
    ndcg = {name: {g: m["ndcg@10"] for g, m in groups.items()}
            for name, groups in result.groups.items()}
    assert set(result.metrics) == {"pop", "pop+live", "itemknn", "itemknn+live"}
    assert ndcg["itemknn"]["cold"] == pytest.approx(ndcg["pop"]["cold"])  # popular for both
    assert ndcg["itemknn+live"]["cold"] > 1.5 * ndcg["pop"]["cold"]
    assert ndcg["itemknn+live"]["warm"] > ndcg["itemknn"]["warm"]
    assert result.users["all"] == result.users["cold"] + result.users["warm"]


def test_a_given_session_model_is_the_one_sessions_start_from(shop: pd.DataFrame) -> None:
    from recommender.evaluation.replay import replay_model
    from recommender.models import make_model
    from recommender.models.session import session_model

    data = prepare_replay(shop, reveal=3, cold_share=0.3, seed=1)
    model = make_model("als", {"factors": 8, "iterations": 3}).fit(data.train.matrix)
    config = RealtimeConfig()
    default = replay_model(model, data, 10, config)
    given = replay_model(model, data, 10, config, session_model(model, data.train.matrix))
    assert all((a == b).all() for a, b in zip(default, given, strict=True))
    own = replay_model(model, data, 10, config, model)  # ALS's factor cosines instead
    assert (own[0] == default[0]).all() and not (own[1] == default[1]).all()
