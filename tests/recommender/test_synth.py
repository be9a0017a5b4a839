"""Synthetic data: contract, determinism, habits, funnel, new items and a learnable signal."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recommender.matrix import build_interactions
from recommender.synth import (
    CATEGORY_NAMES,
    EVENT_TYPES,
    SYNTH_FORMATS,
    SynthData,
    synthesize,
    write_synth,
)
from recommender.synth.catalog import NEW_ITEM_DAYS, format_ids

SIZE = {"users": 600, "items": 200, "days": 40}
EVENT_COLUMNS = ["user_id", "item_id", "event", "timestamp", "rec_id", "event_id"]
CATALOG_COLUMNS = ["item_id", "kind", "category", "title", "tags", "available", "created_at"]


@pytest.fixture(scope="module")
def data() -> SynthData:
    return synthesize(**SIZE, seed=42)


@pytest.fixture(scope="module")
def categories(data: SynthData) -> pd.Series:
    """Category of each event's item."""
    return data.events["item_id"].map(data.catalog.set_index("item_id")["category"])


def local_minutes(timestamps: pd.Series) -> pd.Series:
    local = timestamps.dt.tz_convert("Asia/Shanghai")
    return local.dt.hour * 60 + local.dt.minute


def test_same_seed_gives_the_same_frames() -> None:
    first, second = synthesize(**SIZE, seed=7), synthesize(**SIZE, seed=7)
    pd.testing.assert_frame_equal(first.events, second.events)
    pd.testing.assert_frame_equal(first.catalog, second.catalog)


def test_another_seed_gives_other_frames(data: SynthData) -> None:
    other = synthesize(**SIZE, seed=43)
    assert not other.events.head(1000).equals(data.events.head(1000))
    assert not other.catalog["created_at"].equals(data.catalog["created_at"])


@pytest.mark.parametrize("fmt", list(SYNTH_FORMATS))
def test_writing_twice_gives_the_same_bytes(tmp_path: Path, fmt: str) -> None:
    small = {"users": 50, "items": 20, "days": 5}

    def digest(folder: Path) -> list[str]:
        paths = write_synth(synthesize(**small, seed=3), folder, fmt)
        return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]

    assert digest(tmp_path / "a") == digest(tmp_path / "b")


def test_jsonl_escapes_quotes_backslashes_and_control_characters(tmp_path: Path) -> None:
    data = synthesize(users=20, items=10, days=2)
    odd = 'say "hi" \\ 油条\n\t\x01'
    catalog = data.catalog.assign(title=[odd, *data.catalog["title"][1:]])
    _, items = write_synth(SynthData(data.events, catalog), tmp_path, "jsonl")
    rows = [json.loads(line) for line in items.read_text(encoding="utf-8").split("\n")[:-1]]
    assert [row["title"] for row in rows] == catalog["title"].tolist()
    assert rows[0]["available"] in (True, False)
    assert rows[0]["created_at"].endswith("+08:00")


def test_events_follow_the_data_contract(data: SynthData) -> None:
    events = data.events
    assert list(events.columns) == EVENT_COLUMNS
    for column in ("user_id", "item_id", "event", "event_id"):
        assert events[column].dtype == "str", column
        assert events[column].notna().all(), column
    assert str(events["timestamp"].dt.tz) == "UTC"
    assert set(events["event"]) == set(EVENT_TYPES)
    assert events["event_id"].is_unique
    assert events["rec_id"].isna().all()
    assert events["timestamp"].is_monotonic_increasing
    assert events["item_id"].isin(data.catalog["item_id"]).all()
    assert events["user_id"].str.fullmatch(r"u\d{5}").all()


def test_catalog_follows_the_data_contract(data: SynthData) -> None:
    catalog = data.catalog
    assert list(catalog.columns) == CATALOG_COLUMNS
    assert len(catalog) == SIZE["items"] and catalog["item_id"].is_unique
    assert catalog["available"].dtype == bool
    assert str(catalog["created_at"].dt.tz) == "UTC"
    assert catalog["created_at"].notna().all()
    assert set(catalog["category"]) == set(CATEGORY_NAMES)
    kinds = catalog.groupby("category")["kind"].unique().map(tuple).to_dict()
    assert kinds == {
        "breakfast": ("product",), "lunch": ("product",), "dinner": ("product",),
        "snacks": ("product",), "drinks": ("product",),
        "articles": ("content",), "activities": ("content",),
    }  # fmt: skip
    assert catalog["title"].str.len().gt(0).all()
    assert catalog["tags"].str.contains(";").all()
    assert 0.0 < (~catalog["available"]).mean() < 0.1


def test_catalog_titles_are_real_dishes() -> None:
    titles = synthesize(users=10, items=7, days=2).catalog.set_index("category")["title"]
    assert titles["breakfast"] == "油条"
    assert titles["drinks"] == "珍珠奶茶"


def test_breakfast_is_bought_in_the_morning_in_shanghai(
    data: SynthData, categories: pd.Series
) -> None:
    bought = (data.events["event"] == "purchase") & (categories == "breakfast")
    minutes = local_minutes(data.events.loc[bought, "timestamp"])
    assert bought.sum() > 1000
    assert minutes.between(6 * 60 + 30, 9 * 60 + 29).mean() >= 0.7


def test_content_is_read_mostly_in_the_evening(data: SynthData, categories: pd.Series) -> None:
    content = categories.isin(["articles", "activities"]) & (data.events["event"] == "view")
    minutes = local_minutes(data.events.loc[content, "timestamp"])
    assert minutes.ge(19 * 60).mean() > 0.5


def test_a_fifth_to_a_third_of_users_buy_breakfast_most_mornings(
    data: SynthData, categories: pd.Series
) -> None:
    events = data.events
    bought = events[(events["event"] == "purchase") & (categories == "breakfast")]
    days = bought["timestamp"].dt.tz_convert("Asia/Shanghai").dt.date
    share_of_days = days.groupby(bought["user_id"]).nunique() / SIZE["days"]
    share_of_days = share_of_days.reindex(events["user_id"].unique(), fill_value=0)
    regulars = (share_of_days >= 0.4).mean()
    assert 0.18 <= regulars <= 0.32
    # Bimodal: hardly anyone sits between occasional buyers and regulars.
    assert share_of_days.between(0.25, 0.4, inclusive="neither").mean() < 0.03


def test_funnel_narrows_from_views_to_purchases(data: SynthData) -> None:
    counts = data.events["event"].value_counts()
    assert counts["view"] > 3 * counts["cart"]
    assert counts["cart"] > counts["purchase"] > counts["favorite"] > counts["share"] > 0
    assert counts["view"] > counts["click"]


def test_content_is_never_carted_or_bought(data: SynthData, categories: pd.Series) -> None:
    content = categories.isin(["articles", "activities"])
    assert not data.events.loc[content, "event"].isin(["cart", "purchase"]).any()
    assert data.events.loc[content, "event"].eq("view").any()


def test_new_items_exist_with_little_and_only_later_history(data: SynthData) -> None:
    catalog, events = data.catalog, data.events
    window_end = events["timestamp"].max()
    new = catalog[catalog["created_at"] > window_end - pd.Timedelta(days=NEW_ITEM_DAYS)]
    assert 0 < len(new) < 0.15 * len(catalog)
    assert new["tags"].str.contains("新品").all()
    created = events["item_id"].map(catalog.set_index("item_id")["created_at"])
    assert (events["timestamp"] >= created).all()
    per_item = events["item_id"].value_counts().reindex(catalog["item_id"], fill_value=0)
    assert per_item[new["item_id"]].median() < per_item.median() / 3


def test_users_come_back_on_several_days(data: SynthData) -> None:
    days = data.events["timestamp"].dt.tz_convert("Asia/Shanghai").dt.date
    active_days = days.groupby(data.events["user_id"]).nunique()
    assert active_days.median() >= 5


def test_start_sets_the_first_local_day() -> None:
    events = synthesize(users=50, items=20, days=3, start=date(2025, 1, 6)).events
    local = events["timestamp"].dt.tz_convert("Asia/Shanghai").dt.date
    assert local.min() >= date(2025, 1, 6)
    assert local.max() <= date(2025, 1, 9)  # a late session may spill past midnight


@pytest.mark.parametrize(("users", "items", "days"), [(0, 20, 5), (10, 6, 5), (10, 20, 0)])
def test_bad_sizes_are_refused(users: int, items: int, days: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        synthesize(users=users, items=items, days=days)


def test_format_ids_pads_and_prefixes() -> None:
    ids = format_ids("e", np.array([1, 42, 123456]), width=4)
    assert ids.tolist() == ["e000001", "e000042", "e123456"]
    assert ids.dtype == "str"


def _hit_rate_at_10(
    scores: np.ndarray, seen: sparse.csr_matrix, relevant: sparse.csr_matrix
) -> float:
    scores = np.where(seen.toarray() > 0, -np.inf, scores)
    top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    hits = np.take_along_axis(relevant.toarray(), top, axis=1).sum(axis=1)
    return float((hits > 0).mean())


def test_collaborative_filtering_clearly_beats_popularity(data: SynthData) -> None:
    events = data.events
    cut = events["timestamp"].quantile(0.8)
    train = build_interactions(events[events["timestamp"] < cut], {e: 1.0 for e in EVENT_TYPES})
    test = events[events["timestamp"] >= cut]
    rows = train.users.to_index(test["user_id"])
    cols = train.items.to_index(test["item_id"])
    known = (rows >= 0) & (cols >= 0)
    relevant = sparse.csr_matrix(
        (np.ones(known.sum()), (rows[known], cols[known])), shape=train.shape
    )
    seen = (train.matrix > 0).astype(np.float64)
    relevant = (relevant > 0).astype(np.float64) - seen.multiply(relevant > 0)
    relevant.eliminate_zeros()
    users = np.flatnonzero(relevant.getnnz(axis=1) > 0)
    assert len(users) > 200

    popularity = np.asarray(seen.sum(axis=0)).ravel()
    norms = np.sqrt(popularity) + 1e-9
    similarity = (seen.T @ seen).toarray() / np.outer(norms, norms)
    np.fill_diagonal(similarity, 0.0)
    user_seen, user_relevant = seen[users], relevant[users]

    popular = _hit_rate_at_10(np.tile(popularity, (len(users), 1)), user_seen, user_relevant)
    item_knn = _hit_rate_at_10(user_seen @ similarity, user_seen, user_relevant)
    assert item_knn >= popular + 0.1
    assert item_knn >= 1.3 * popular
