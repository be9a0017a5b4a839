"""Key names and hash buckets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.cluster import key_slot

from storage.keys import (
    Keys,
    bucket_count,
    bucket_of,
    buckets_of,
    namespace_id,
    popular_field,
)


def test_key_names_follow_the_documented_layout() -> None:
    keys = Keys("shop:")
    version = keys.version(namespace_id("products", "7", "ab12"))
    assert keys.live() == "shop:{ctl}:live"
    assert keys.unavailable() == "shop:{ctl}:unavailable"
    assert keys.purchased("u1") == "shop:u:{u1}:purchased"
    assert keys.push_count("u1", "2026-11-21") == "shop:u:{u1}:push:2026-11-21"
    assert keys.events() == "shop:{events}:stream"
    assert version.meta() == "shop:v:{products:7:ab12}:meta"
    assert version.members() == "shop:v:{products:7:ab12}:keys"
    assert version.popular() == "shop:v:{products:7:ab12}:popular"
    assert version.new_items() == "shop:v:{products:7:ab12}:new"
    assert version.recs("product", 3) == "shop:v:{products:7:ab12:u3}:rec:product"
    assert version.slot("product", "breakfast", 0) == (
        "shop:v:{products:7:ab12:u0}:slot:product:breakfast"
    )
    assert version.profile(1) == "shop:v:{products:7:ab12:u1}:profile"
    assert version.similar(2) == "shop:v:{products:7:ab12:i2}:similar"
    assert popular_field("content") == "content:any"
    assert Keys().live() == "recsys:{ctl}:live"


def test_what_one_operation_touches_shares_a_hash_slot() -> None:
    keys = Keys("shop:")
    version = keys.version(namespace_id("products", "7", "ab12"))
    same = [
        {keys.live(), keys.pinned(), keys.experiments(), keys.published(), keys.unavailable()},
        {version.recs("product", 5), version.slot("product", "lunch", 5), version.profile(5)},
        {version.meta(), version.items(), version.popular(), version.new_items(),
         version.members()},
        {keys.purchased("u9"), keys.push_count("u9", "2026-11-21"), keys.pushed("u9")},
        {keys.events(), keys.event_seen("e1"), keys.ab_rejected(), keys.ab_counts("x", "d"),
         keys.ab_seen("x", "click", "u9", "p1")},
    ]
    for group in same:
        assert len({key_slot(key.encode()) for key in group}) == 1, group
    buckets = {key_slot(version.recs("product", b).encode()) for b in range(64)}
    assert len(buckets) > 50  # a version spreads over the cluster


def test_a_prefix_with_braces_is_refused() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        Keys("shop{1}:")


def test_fnv1a_matches_its_published_test_vectors() -> None:
    # FNV-1a 32-bit: "" -> 0x811c9dc5, "a" -> 0xe40c292c, "foobar" -> 0xbf9cf968
    assert bucket_of("", 2**32) == 0x811C9DC5
    assert bucket_of("a", 2**32) == 0xE40C292C
    assert bucket_of("foobar", 2**32) == 0xBF9CF968


@given(st.lists(st.text(max_size=40), max_size=50), st.integers(1, 1000))
def test_vectorized_buckets_equal_the_per_id_function(ids: list[str], buckets: int) -> None:
    expected = [bucket_of(i, buckets) for i in ids]
    assert buckets_of(ids, buckets).tolist() == expected
    assert buckets_of(pd.Series(ids, dtype="string[pyarrow]").array, buckets).tolist() == expected


def test_buckets_spread_ids_evenly() -> None:
    counts = np.bincount(buckets_of([f"u{i}" for i in range(51_200)], 100), minlength=100)
    assert counts.min() > 400 and counts.max() < 640


def test_bucket_count_holds_about_512_ids_a_bucket() -> None:
    assert [bucket_count(n) for n in (0, 1, 512, 513, 100_000)] == [1, 1, 1, 2, 196]
