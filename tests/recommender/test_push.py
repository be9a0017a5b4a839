"""The pure push rules."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from recommender import push
from recommender.config import PushConfig, RulesConfig, SlotConfig
from recommender.lists import RankedList

BREAKFAST = SlotConfig(name="breakfast", start="06:30", end="09:30", categories=["breakfast"],
                       push=True, push_items=2)
LATE = SlotConfig(name="late", start="21:00", end="23:00", categories=["snacks"], push=True)
LUNCH = SlotConfig(name="lunch", start="11:00", end="13:30", categories=["lunch"])
RULES = RulesConfig(timezone="Asia/Shanghai", slots=[BREAKFAST, LATE, LUNCH])
PUSH = PushConfig(max_per_user_per_day=2, quiet_hours="22:00-06:30")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-11-21T06:29:59+08:00", None),
        ("2026-11-21T06:30:00+08:00", "breakfast"),
        ("2026-11-20T22:30:00+00:00", "breakfast"),  # 06:30 in Shanghai
        ("2026-11-21T12:00:00+08:00", None),  # lunch is not a push slot
        ("2026-11-21T21:59:00+08:00", "late"),
        ("2026-11-21T22:00:00+08:00", None),  # quiet hours
    ],
)
def test_push_slot(when: str, expected: str | None) -> None:
    slot = push.push_slot(at(when), RULES, PUSH)
    assert (slot.name if slot else None) == expected


def test_no_quiet_hours() -> None:
    slot = push.push_slot(at("2026-11-21T22:30:00+08:00"), RULES, PushConfig(quiet_hours=""))
    assert slot is not None and slot.name == "late"


def test_slot_affinity_sums_the_shares_of_slot_categories() -> None:
    assert push.slot_affinity(["lunch", "breakfast"], [0.7, 0.2], 0.9, BREAKFAST) == (
        pytest.approx(0.2))
    assert push.slot_affinity(["lunch"], [1.0], 0.0, BREAKFAST) == 0.0
    assert push.slot_affinity([], [], 0.0, BREAKFAST) == 0.0
    tagged = SlotConfig(name="morning", start="06:00", end="09:00", tags=["morning"], push=True)
    assert push.slot_affinity(["lunch"], [1.0], 0.25, tagged) == 0.25
    assert push.has_affinity(0.2, PUSH) and not push.has_affinity(0.0, PUSH)
    assert not push.has_affinity(0.2, PushConfig(min_affinity=0.3))


def test_cap_and_windows() -> None:
    assert not push.cap_reached(1, PUSH) and push.cap_reached(2, PUSH)
    moment = at("2026-11-21T07:30:00+08:00")
    assert push.no_repeat_cutoff(moment, PUSH) == moment.timestamp() - 7 * 86400
    assert push.pushed_ttl_seconds(PUSH) == 8 * 86400


def test_pick_skips_blocked_and_repeated_items() -> None:
    picked = push.pick(["a", "b", "a", "c", "d"], [5, 4, 3, 2, 1], ["x"] * 5, {"b"}, 2)
    assert picked == [{"item_id": "a", "score": 5.0, "reason": "x"},
                      {"item_id": "c", "score": 2.0, "reason": "x"}]
    assert push.pick(["a"], [1.0], ["x"], {"a"}, 3) == []


def test_candidates_slot_lists_then_new_then_popular_slot_items_only() -> None:
    ids = ["b0", "b1", "l0", "b2", "b3"]
    member = np.array([True, True, False, True, True])

    def ranked(items: list[int], scores: list[float]) -> RankedList:
        return RankedList(np.array(items), np.array(scores))

    got = push.candidates(BREAKFAST, ids, [ranked([0, 2], [0.5, 0.9]), ranked([1], [0.7])],
                          [ranked([3], [0.1])], ranked([4, 2, 0], [3.0, 2.0, 1.0]), member)
    assert got == (["b1", "b0", "b2", "b3", "b0"], [0.7, 0.5, 0.1, 3.0, 1.0],
                   ["slot:breakfast", "slot:breakfast", "new", "popular", "popular"])


def test_find_slot() -> None:
    assert push.find_slot("late", RULES) is LATE
    with pytest.raises(ValueError, match="unknown push slot 'lunch'; push slots: breakfast, late"):
        push.find_slot("lunch", RULES)
