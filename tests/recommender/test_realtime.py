"""recommender.realtime: session candidates, rank fusion, trending, slot hours."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from recommender import realtime
from recommender.config import RealtimeConfig, SlotConfig

SIMILAR = {
    0: ([1, 2, 3], [0.9, 0.45, 0.09]),
    5: ([3, 4], [2.0, 1.0]),
}


def neighbours(item: int) -> tuple[list[int], list[float]] | None:
    return SIMILAR.get(item)


def test_session_candidates_sum_reciprocal_ranks_newest_first() -> None:
    config = RealtimeConfig(decay=0.5, session_offset=2)
    ranked, source = realtime.session_ranking([0, 5], neighbours, config)
    # 5 is newest (weight 1): 3 -> 1/3, 4 -> 1/4; 0 weighs 0.5: 1 -> .5/3, 2 -> .5/4, 3 -> .5/5
    assert ranked == [3, 4, 1, 2]
    assert source == {3: 5, 1: 0, 4: 5, 2: 0}


# two live items whose similar lists are flat: 9 is fifth in both, a little similar to each
FLAT = {0: ([1, 2, 4, 6, 9], [1.0, 0.99, 0.98, 0.97, 0.96]),
        5: ([3, 7, 8, 10, 9], [1.0, 0.99, 0.98, 0.97, 0.96])}


def test_each_live_items_best_neighbours_outrank_an_item_a_little_similar_to_both() -> None:
    config = RealtimeConfig(decay=1.0, session_offset=2)
    ranked, source = realtime.session_ranking([0, 5], FLAT.get, config)
    # 3 and 1: 1/3 each (a tie keeps the newer live item's first); 9: 2/7; second ranks 1/4
    assert ranked[:4] == [3, 1, 9, 7]
    assert source[9] == 5  # equal shares: the newer live item brought it first


def test_a_larger_session_offset_lets_agreement_between_live_items_lead() -> None:
    config = RealtimeConfig(decay=1.0, session_offset=10)
    ranked, _ = realtime.session_ranking([0, 5], FLAT.get, config)
    assert ranked[0] == 9  # 2/15 against 1/11


def test_live_items_are_not_their_own_candidates_and_unknown_ones_bring_nothing() -> None:
    ranked, _ = realtime.session_ranking([1, 0, 99], neighbours, RealtimeConfig())
    assert 1 not in ranked and 0 not in ranked and ranked == [2, 3]


def test_only_the_first_neighbours_of_each_live_item_count() -> None:
    ranked, _ = realtime.session_ranking([0], neighbours, RealtimeConfig(session_depth=2))
    assert ranked == [1, 2]


def test_only_the_newest_session_items_count() -> None:
    ranked, _ = realtime.session_ranking([0, 5], neighbours, RealtimeConfig(session_items=1))
    assert ranked == [3, 4]


def test_fusion_is_weighted_reciprocal_rank_and_says_which_list_brought_an_item() -> None:
    fused = realtime.fuse([10, 11, 12], [12, 13], weight=1.0, offset=1, n=4)
    # 12: 1/4 + 1/2 = .75; 10: 1/2; 13: 1/3; 11: 1/3 (first's order kept on ties)
    assert [f.item for f in fused] == [12, 10, 11, 13]
    assert [f.second for f in fused] == [True, False, False, True]
    assert fused[0].score == pytest.approx(0.75)


def test_a_zero_weight_keeps_the_first_list() -> None:
    fused = realtime.fuse([1, 2, 3], [3, 9], weight=0.0, offset=10, n=3)
    assert [f.item for f in fused] == [1, 2, 3]


def test_trending_sums_counts_over_hours() -> None:
    assert realtime.trending([{1: 2.0, 2: 1.0}, {2: 5.0}, {}]) == [2, 1]


def test_a_slot_counts_the_hours_it_was_active() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    slot = SlotConfig(name="breakfast", start="06:30", end="09:30", categories=["breakfast"])
    # epoch hour h starts at h:00 UTC = h+8 local; 2026-11-20 22:00 UTC = 06:00 local
    start = 1_795_212_000 // 3600  # 2026-11-20T22:00:00Z
    hours = list(range(start - 2, start + 5))  # 04:00 .. 10:00 local
    assert realtime.in_slot_hours(hours, slot, zone) == [start, start + 1, start + 2,
                                                         start + 3]  # 06:00 .. 09:59


def test_factor_models_start_sessions_from_an_item_knn_of_the_same_matrix() -> None:
    from scipy import sparse

    from recommender.models import make_model
    from recommender.models.session import session_model

    matrix = sparse.csr_matrix([[1, 1, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1], [0, 1, 1, 1]],
                               dtype="float32")
    assert session_model(make_model("ease", {}).fit(matrix), matrix) is None
    assert session_model(make_model("itemknn", {}).fit(matrix), matrix) is None
    neighbours = session_model(make_model("als", {"factors": 2}).fit(matrix), matrix)
    assert neighbours is not None and neighbours.name == "itemknn"
    ids, _ = neighbours.similar_items(0, N=1)
    assert ids.tolist() == [1]  # co-occurrence: item 0 is always seen with item 1
