"""Split protocols and the prepared evaluation data, on tiny frames where the answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recommender.errors import ConfigError
from recommender.evaluation import prepare, recommend_users, split_events
from recommender.evaluation.splits import split_masks
from recommender.matrix import EncodedEvents, build_interactions
from recommender.models.popularity import PopularityRecommender

DAY = 86_400


def frame(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    """Canonical events from ``(user, item, event, seconds)``; ``event_id`` = row number."""
    users, items, events, seconds = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "user_id": list(users),
            "item_id": list(items),
            "event": list(events),
            "timestamp": pd.to_datetime(list(seconds), unit="s", utc=True),
            "event_id": [f"e{i}" for i in range(len(rows))],
        }
    )


def many(counts: dict[str, int]) -> pd.DataFrame:
    """``counts[user]`` view events per user on distinct items, one second apart."""
    rows = [(u, f"{u}-i{j}", "view", j) for u, n in counts.items() for j in range(n)]
    return frame(rows)


def per_user(part: pd.DataFrame) -> dict[str, int]:
    return part["user_id"].value_counts().to_dict()


# ---------------------------------------------------------------------------------- stratified
def test_stratified_train_count_is_rounded_ratio_with_at_least_one() -> None:
    # ratio 0.75: 4 events -> 3 train; 1 -> 1 (train-only); 2 -> round(1.5) = 2 (train-only);
    # 6 -> round(4.5) = 4 (half to even, like Python's round); 8 -> 6
    split = split_events(many({"a": 4, "b": 1, "c": 2, "d": 6, "e": 8}), "stratified", 0.75)
    assert per_user(split.train) == {"a": 3, "b": 1, "c": 2, "d": 4, "e": 6}
    assert per_user(split.test) == {"a": 1, "d": 2, "e": 2}


def test_stratified_keeps_one_train_event_when_the_ratio_rounds_to_zero() -> None:
    # ratio 0.1 of 3 events rounds to 0: the user keeps 1 train event, 2 go to test
    split = split_events(many({"a": 3}), "stratified", 0.1)
    assert (len(split.train), len(split.test)) == (1, 2)


def test_stratified_partitions_the_rows_and_keeps_their_order() -> None:
    events = many({"a": 10, "b": 7, "c": 3})
    split = split_events(events, "stratified", 0.5, seed=1)
    train_ids, test_ids = list(split.train["event_id"]), list(split.test["event_id"])
    assert sorted(train_ids + test_ids) == sorted(events["event_id"])
    assert not set(train_ids) & set(test_ids)
    assert train_ids == sorted(train_ids, key=lambda e: int(e[1:]))
    assert (split.protocol, split.ratio, split.seed) == ("stratified", 0.5, 1)


def test_stratified_is_deterministic_for_a_seed_and_varies_with_it() -> None:
    events = many({"a": 20, "b": 20})
    first = split_events(events, "stratified", 0.5, seed=3)
    again = split_events(events, "stratified", 0.5, seed=3)
    other = split_events(events, "stratified", 0.5, seed=4)
    pd.testing.assert_frame_equal(first.train, again.train)
    assert set(first.test["event_id"]) != set(other.test["event_id"])


def test_stratified_draws_are_random_within_each_user() -> None:
    # with a rank-by-row-order bug, the test part would always be each user's last rows
    events = many({"a": 40})
    test_rows = {int(e[1:]) for e in split_events(events, "stratified", 0.75).test["event_id"]}
    assert len(test_rows) == 10
    assert test_rows != set(range(30, 40))


# ---------------------------------------------------------------------------------- temporal
def test_temporal_cuts_at_the_time_quantile_and_keeps_only_known_users() -> None:
    # times 0..7; the 0.75 quantile is 5.25: train = times 0..5, test = times 6 and 7.
    # u3 appears only at time 7, after the cut, so it is not a test user.
    events = frame(
        [
            ("u1", "a", "view", 0),
            ("u1", "b", "view", 1),
            ("u2", "a", "view", 2),
            ("u2", "c", "view", 3),
            ("u1", "c", "view", 4),
            ("u2", "b", "view", 5),
            ("u1", "d", "view", 6),
            ("u3", "d", "view", 7),
        ]
    )
    split = split_events(events, "temporal", 0.75)
    assert list(split.train["event_id"]) == ["e0", "e1", "e2", "e3", "e4", "e5"]
    assert list(split.test["event_id"]) == ["e6"]


def test_temporal_events_at_the_cut_go_to_test() -> None:
    # times 0..4, the 0.5 quantile is exactly 2: the event at time 2 is test
    events = frame([("u", f"i{t}", "view", t) for t in range(5)])
    split = split_events(events, "temporal", 0.5)
    assert list(split.train["event_id"]) == ["e0", "e1"]
    assert list(split.test["event_id"]) == ["e2", "e3", "e4"]


# ---------------------------------------------------------------------------------- leave-last
def test_leave_last_holds_out_each_users_latest_event() -> None:
    # u1's latest is row 1 (time 30) although it is not its last row; u2 has one event: train-only;
    # u3 has two events at the same latest time: the later row (row 5) is the test.
    events = frame(
        [
            ("u1", "a", "view", 10),
            ("u1", "b", "view", 30),
            ("u1", "c", "view", 20),
            ("u2", "a", "view", 99),
            ("u3", "a", "view", 50),
            ("u3", "b", "view", 50),
            ("u3", "c", "view", 40),
        ]
    )
    split = split_events(events, "leave-last")
    assert list(split.test["event_id"]) == ["e1", "e5"]
    assert list(split.train["event_id"]) == ["e0", "e2", "e3", "e4", "e6"]


# ---------------------------------------------------------------------------------- options
@pytest.mark.parametrize("protocol", ["random", "Temporal", ""])
def test_an_unknown_protocol_names_the_valid_ones(protocol: str) -> None:
    with pytest.raises(ConfigError, match=r"--protocol.*stratified, temporal, leave-last"):
        split_events(many({"a": 2}), protocol)


@pytest.mark.parametrize("ratio", [0.0, 1.0, -0.5, 1.5])
def test_a_ratio_outside_zero_one_is_refused(ratio: float) -> None:
    with pytest.raises(ConfigError, match="--ratio"):
        split_events(many({"a": 2}), "temporal", ratio)


def test_an_empty_frame_splits_into_two_empty_parts() -> None:
    empty = many({"a": 1}).iloc[:0]
    for protocol in ("stratified", "temporal", "leave-last"):
        split = split_events(empty, protocol)
        assert (len(split.train), len(split.test)) == (0, 0)


# ---------------------------------------------------------------------------------- prepare
WEIGHTS = {"view": 1.0, "purchase": 8.0, "impression": 0.0}


def leave_last_events() -> pd.DataFrame:
    # test events (each user's last): u1 -> c (purchase, never in train), u2 -> b (view),
    # u3 -> b (impression, weight 0: not relevant), u4 has one event (train-only).
    return frame(
        [
            ("u1", "a", "purchase", 1 * DAY),
            ("u1", "b", "view", 2 * DAY),
            ("u1", "c", "purchase", 9 * DAY),
            ("u2", "a", "view", 3 * DAY),
            ("u2", "b", "view", 9 * DAY),
            ("u3", "a", "view", 1 * DAY),
            ("u3", "b", "impression", 9 * DAY),
            ("u4", "b", "view", 1 * DAY),
        ]
    )


def test_prepare_builds_relevance_in_the_train_index_space() -> None:
    data = prepare(leave_last_events(), "leave-last", weights=WEIGHTS)
    users, items = data.train.users, data.train.items
    assert list(items.ids) == ["a", "b"]
    assert data.n_test_only_items == 1
    assert data.test.shape == (4, 3)  # 4 train users; items a, b and the test-only c
    assert list(data.users) == [users.get("u1"), users.get("u2")]
    assert list(data.test[users.get("u1")].indices) == [2]  # c: relevant, never recommendable
    assert list(data.test[users.get("u2")].indices) == [items.get("b")]
    assert data.test[users.get("u3")].nnz == 0  # an impression is not relevant
    assert set(data.test.data) == {1.0}


def test_prepare_decays_from_the_newest_train_event() -> None:
    # newest TRAIN event is day 3 (u2 views a), not day 9 (a test event); half-life 1 day:
    # u2/a weighs 1 (age 0), u1/a weighs 8 * 2^-2 = 2 (age 2 days)
    data = prepare(leave_last_events(), "leave-last", weights=WEIGHTS, half_life_days=1.0)
    users, items = data.train.users, data.train.items
    matrix = data.train.matrix
    assert matrix[users.get("u2"), items.get("a")] == pytest.approx(1.0)
    assert matrix[users.get("u1"), items.get("a")] == pytest.approx(2.0)


def test_prepare_summarizes_both_parts() -> None:
    data = prepare(leave_last_events(), "leave-last", weights=WEIGHTS)
    assert data.summary == {
        "protocol": "leave-last",
        "ratio": 0.75,
        "seed": 42,
        "train_rows": 5,
        "train_users": 4,
        "train_items": 2,
        "train_nnz": 5,
        "test_rows": 3,
        "test_users": 2,
        "test_items": 2,
        "test_only_items": 1,
        "test_pairs_already_had": 0,
        "eval_users": 2,
    }


def repeat_events() -> pd.DataFrame:
    # u1 bought a and b in train and buys a again in test, then views c; u2 views b again only
    return frame(
        [
            ("u1", "a", "purchase", 1 * DAY),
            ("u1", "b", "purchase", 2 * DAY),
            ("u1", "a", "purchase", 8 * DAY),
            ("u1", "c", "view", 9 * DAY),
            ("u2", "c", "view", 1 * DAY),
            ("u2", "b", "view", 2 * DAY),
            ("u2", "b", "view", 9 * DAY),
        ]
    )


def test_an_item_the_user_already_has_is_not_relevant_unless_repeatable() -> None:
    data = prepare(repeat_events(), "temporal", ratio=0.6, weights=WEIGHTS)
    users, items = data.train.users, data.train.items
    assert list(data.test[users.get("u1")].indices) == [items.get("c")]  # a: had it
    assert list(data.users) == [users.get("u1")]  # u2's only test item is one they had
    assert data.summary["test_pairs_already_had"] == 2


def test_a_repeatable_item_is_relevant_and_rankable_again() -> None:
    data = prepare(repeat_events(), "temporal", ratio=0.6, weights=WEIGHTS,
                   repeatable_items={"a", "b"})
    users, items = data.train.users, data.train.items
    assert sorted(data.test[users.get("u1")].indices) == sorted([items.get("a"), items.get("c")])
    assert list(data.repeatable) == [items.ids[i] in {"a", "b"} for i in range(len(items))]
    model = PopularityRecommender().fit(data.train.matrix)
    ranked = recommend_users(model, data, k=3)
    u1 = list(data.users).index(users.get("u1"))
    assert items.get("a") in ranked[u1]  # bought before, repeatable: may come again


def test_prepare_refuses_a_split_without_evaluable_users() -> None:
    events = frame([("u1", "a", "view", 1), ("u2", "b", "view", 2)])  # one event each
    with pytest.raises(ConfigError, match="no user"):
        prepare(events, "leave-last", weights=WEIGHTS)


def test_prepare_names_an_event_type_without_weight() -> None:
    events = frame([("u1", "a", "view", 1), ("u1", "b", "like", 2)])
    with pytest.raises(ConfigError, match="like"):
        prepare(events, "leave-last", weights={"view": 1.0})


def test_prepare_users_have_train_and_relevant_test_items() -> None:
    rng = np.random.default_rng(0)
    n = 400
    events = frame(
        [
            (f"u{rng.integers(30)}", f"i{rng.integers(50)}", "view", int(t))
            for t in rng.integers(0, 10 * DAY, size=n)
        ]
    )
    data = prepare(events, "stratified", weights=WEIGHTS)
    train_counts = np.diff(data.train.matrix.indptr)[data.users]
    test_counts = np.diff(data.test.indptr)[data.users]
    assert (train_counts > 0).all() and (test_counts > 0).all()
    others = np.setdiff1d(np.arange(data.train.shape[0]), data.users)
    assert (np.diff(data.test.indptr)[others] == 0).all()


# ---------------------------------------------------------------------------------- masks
def _lexsort_stratified(users: np.ndarray, ratio: float, seed: int) -> np.ndarray:
    """The stratified draw written the slow, obvious way: rank by (user, key) with lexsort."""
    keys = np.random.default_rng(seed).random(len(users))
    order = np.lexsort((keys, users))
    ranks = np.empty(len(users), dtype=np.int64)
    for position, row in enumerate(order):
        first = np.searchsorted(users[order], users[row])
        ranks[row] = position - first
    n_train = np.maximum(np.rint(ratio * np.bincount(users)).astype(np.int64), 1)
    return ranks < n_train[users]


@pytest.mark.parametrize("seed", [0, 42, 7])
def test_the_stratified_float_sort_draws_what_a_lexsort_by_user_and_key_draws(seed: int) -> None:
    users = np.random.default_rng(seed + 100).integers(0, 300, size=5_000)
    seconds = np.zeros(len(users))
    train, test = split_masks(users, seconds, "stratified", 0.75, seed)
    np.testing.assert_array_equal(train, _lexsort_stratified(users, 0.75, seed))
    np.testing.assert_array_equal(test, ~train)


@pytest.mark.parametrize("protocol", ["stratified", "temporal", "leave-last"])
def test_split_masks_select_the_rows_split_events_returns(protocol: str) -> None:
    events = frame([(f"u{i % 7}", f"i{i % 5}", "view", (i * 37) % 101) for i in range(60)])
    split = split_events(events, protocol, 0.7, 3)
    codes, _ = pd.factorize(events["user_id"])
    seconds = events["timestamp"].astype("int64").to_numpy() / 1e9
    train, test = split_masks(codes, seconds, protocol, 0.7, 3)
    assert split.train["event_id"].tolist() == events.loc[train, "event_id"].tolist()
    assert split.test["event_id"].tolist() == events.loc[test, "event_id"].tolist()


def test_prepare_builds_the_train_matrix_of_the_train_part_of_split_events() -> None:
    events = frame([(f"u{i % 9}", f"i{(i * 7) % 11}", ("view", "purchase")[i % 3 == 0], i * 60)
                    for i in range(120)])
    weights = {"view": 1.0, "purchase": 8.0}
    train = split_events(events, "stratified", 0.75, 42).train
    want = build_interactions(train, weights, 1.0, reference_time=train["timestamp"].max())
    for given in (events, EncodedEvents.from_frame(events)):
        got = prepare(given, "stratified", 0.75, 42, weights, half_life_days=1.0).train
        assert list(got.users.ids) == list(want.users.ids)
        assert list(got.items.ids) == list(want.items.ids)
        np.testing.assert_allclose(got.matrix.toarray(), want.matrix.toarray(), rtol=1e-6)
