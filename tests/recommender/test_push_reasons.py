"""Why no push is due (``no_slot_reason``, ``decide``'s reasons) and listing a recorded push."""

from __future__ import annotations

import numpy as np
import pytest

from recommender import push
from recommender.lists import Profile, RankedList, empty_list
from tests.recommender.test_push import BREAKFAST, PUSH, RULES, at

IDS = ["b0", "b1", "l0", "b2", "b3"]
MEMBER = np.array([True, True, False, True, True])
CATEGORIES = ["breakfast", "lunch"]


def ranked(items: list[int], scores: list[float]) -> RankedList:
    return RankedList(np.array(items), np.array(scores))


def catalog(max_per_day: int = 2) -> push.SlotCatalog:
    return push.SlotCatalog(
        slot=BREAKFAST, push=PUSH.model_copy(update={"max_per_user_per_day": max_per_day}),
        item_ids=IDS, category_names=CATEGORIES, repeatable=np.zeros(5, dtype=bool),
        member=MEMBER, new_lists=[ranked([3], [0.1])], popular=ranked([4, 0], [3.0, 1.0]),
        unavailable=frozenset())


def profile(category: int) -> Profile:
    return Profile(np.array([category]), np.array([1.0]), np.array([], dtype=int))


NOBODY = push.UserState(frozenset(), frozenset(), 0)


@pytest.mark.parametrize(
    ("when", "reason"),
    [("2026-11-21T06:29:00+08:00", push.QUIET_HOURS),  # no slot, and quiet hours
     ("2026-11-21T22:30:00+08:00", push.QUIET_HOURS),  # the late slot, in quiet hours
     ("2026-11-21T12:00:00+08:00", push.NO_PUSH_SLOT),  # lunch is not a push slot
     ("2026-11-21T10:00:00+08:00", push.NO_PUSH_SLOT)],  # no slot
)
def test_no_slot_reason(when: str, reason: str) -> None:
    assert push.push_slot(at(when), RULES, PUSH) is None
    assert push.no_slot_reason(at(when), RULES, PUSH) == reason


def test_every_reason_decide_gives_is_documented() -> None:
    lists = [ranked([1, 0], [0.9, 0.5])]
    assert push.decide(catalog(), None, lists, NOBODY).reason == push.NO_PROFILE
    assert push.decide(catalog(), profile(1), lists, NOBODY).reason == push.NO_AFFINITY
    capped = push.UserState(frozenset(), frozenset(), 2)
    assert push.decide(catalog(), profile(0), lists, capped).reason == push.CAPPED
    everything = push.UserState(frozenset(), frozenset(IDS), 0)
    assert push.decide(catalog(), profile(0), lists, everything).reason == push.NOTHING_LEFT
    due = push.decide(catalog(), profile(0), lists, NOBODY)
    assert due.reason == push.PUSH and [i["item_id"] for i in due.items] == ["b1", "b0"]
    assert set(push.REASONS) == {push.QUIET_HOURS, push.NO_PUSH_SLOT, push.CAPPED,
                                 push.NO_PROFILE, push.NO_AFFINITY, push.NOTHING_LEFT}


def test_a_recorded_push_is_listed_in_the_order_decide_ranks_it() -> None:
    lists = [ranked([1, 0], [0.9, 0.5])]
    assert push.in_rank_order(catalog(), lists, {"b0", "b1", "b2"}) == ["b1", "b0", "b2"]
    assert push.in_rank_order(catalog(), [], {"zz", "b3", "b2", "aa"}) == ["b2", "b3", "aa",
                                                                          "zz"]
    assert push.in_rank_order(catalog(), [empty_list()], []) == []
