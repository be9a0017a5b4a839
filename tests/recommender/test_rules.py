"""Slots, boosts and quiet hours in the configured time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from recommender.config import PushConfig, RulesConfig, SlotConfig
from recommender.rules import (
    active_slot,
    boost,
    boost_scores,
    in_quiet_hours,
    in_window,
    parse_instant,
    slot_item_mask,
    slot_start,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("utc", "slot"),
    [
        ("2026-11-20T22:29:00Z", None),  # 06:29
        ("2026-11-20T22:30:00Z", "breakfast"),  # 06:30
        ("2026-11-21T01:29:59Z", "breakfast"),  # 09:29:59
        ("2026-11-21T01:30:00Z", None),  # 09:30
        ("2026-11-21T04:00:00Z", "lunch"),  # 12:00
        ("2026-11-21T10:30:00Z", "dinner"),  # 18:30
    ],
)
def test_the_active_slot_is_read_in_shanghai_time(utc: str, slot: str | None) -> None:
    found = active_slot(parse_instant(utc, SHANGHAI), RulesConfig())
    assert (found.name if found else None) == slot


def test_an_instant_without_offset_is_local_time() -> None:
    assert parse_instant("2026-11-21T06:30", SHANGHAI) == datetime(2026, 11, 20, 22, 30,
                                                                   tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_instant("breakfast time", SHANGHAI)


def test_windows_wrap_past_midnight() -> None:
    assert in_window(time(23, 0), time(22, 0), time(6, 30))
    assert in_window(time(6, 29), time(22, 0), time(6, 30))
    assert not in_window(time(6, 30), time(22, 0), time(6, 30))
    quiet = PushConfig(quiet_hours="22:00-06:30")
    assert in_quiet_hours(datetime(2026, 11, 20, 14, 0, tzinfo=UTC), quiet, SHANGHAI)  # 22:00
    assert not in_quiet_hours(datetime(2026, 11, 20, 22, 30, tzinfo=UTC), quiet, SHANGHAI)
    assert not in_quiet_hours(datetime(2026, 11, 20, 14, 0, tzinfo=UTC),
                              PushConfig(quiet_hours=""), SHANGHAI)


def test_a_boost_always_moves_an_item_up() -> None:
    assert boost(0.5, 2.0) == 1.0 and boost(-0.5, 2.0) == -0.25
    boosted = boost_scores(np.array([0.5, -0.5, 0.3]), np.array([True, True, False]), 2.0)
    assert boosted.tolist() == [1.0, -0.25, 0.3]


def test_slot_items_match_by_category_or_tag() -> None:
    catalog = pd.DataFrame({"category": ["breakfast", "drinks", "drinks", "lunch"],
                            "tags": ["", "hot;morning", "cold", None]}, index=[9, 9, 3, 1])
    slot = SlotConfig(name="breakfast", start="06:30", end="09:30", categories=["breakfast"],
                      tags=["morning"])
    assert slot_item_mask(catalog, slot).tolist() == [True, True, False, False]


def test_slot_start_is_local() -> None:
    slot = RulesConfig().slots[0]
    assert slot_start(date(2026, 11, 21), slot, SHANGHAI).isoformat() == "2026-11-21T06:30:00+08:00"
