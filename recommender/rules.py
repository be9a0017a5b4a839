"""Time-of-day rules: which slot is active, slot boosts, quiet hours.

Pure functions, except ``SlotClock.active_now`` which reads the clock.

All instants are timezone-aware; they are converted to the configured zone
(``RulesConfig.timezone``) before comparing with the ``HH:MM`` bounds of a slot. A slot covers
``[start, end)``: at 06:30 the breakfast slot (06:30-09:30) is active, at 09:30 it is not. A
window whose end is not after its start wraps past midnight (``22:00-06:30``).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, time
from time import time as time_now
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from recommender.config import PushConfig, RulesConfig, SlotConfig, parse_hhmm

ANY_SLOT = "any"
"""The slot name of lists that apply at any time of day (e.g. the plain popular list)."""


def in_window(moment: time, start: time, end: time) -> bool:
    """``start <= moment < end``, wrapping past midnight when ``end <= start``."""
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def local_time(at: datetime, zone: ZoneInfo) -> time:
    """Wall-clock time of the instant ``at`` in ``zone``."""
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return at.astimezone(zone).time()


class SlotClock:
    """The configured slots with their bounds parsed once, for many ``active`` lookups."""

    def __init__(self, rules: RulesConfig) -> None:
        self.zone = rules.zone
        self.windows = [(slot, slot.start_time, slot.end_time) for slot in rules.slots]
        self._now: tuple[int, SlotConfig | None] = (-1, None)

    def active_now(self) -> SlotConfig | None:
        """``active`` at the current time, worked out at most once a second."""
        second = int(time_now())
        if second != self._now[0]:
            self._now = (second, self.active(datetime.fromtimestamp(second, UTC)))
        return self._now[1]

    def active(self, at: datetime) -> SlotConfig | None:
        """The first slot whose window contains ``at`` (local time), else ``None``."""
        return self.active_at(local_time(at, self.zone))

    def active_at(self, moment: time) -> SlotConfig | None:
        """The first slot whose window contains the wall-clock time ``moment``, else ``None``."""
        for slot, start, end in self.windows:
            if in_window(moment, start, end):
                return slot
        return None


def active_slot(at: datetime, rules: RulesConfig) -> SlotConfig | None:
    """The first configured slot whose window contains ``at`` (local time), else ``None``."""
    return SlotClock(rules).active(at)


def parse_instant(text: str, zone: ZoneInfo) -> datetime:
    """An ISO-8601 instant (``2026-11-21T07:30:00+08:00``, ``...Z``) as an aware UTC datetime.

    A value without an offset is read as local time in ``zone``. Raises ``ValueError``.
    """
    parsed = datetime.fromisoformat(text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def boost(score: float, factor: float) -> float:
    """``score * factor`` for a positive score, ``score / factor`` for a negative one.

    So that a boost always moves an item up, whatever the sign of the model's scores.
    """
    return score * factor if score >= 0 else score / factor


def boost_scores(scores: np.ndarray, mask: np.ndarray, factor: float) -> np.ndarray:
    """``boost`` applied to the masked entries of ``scores`` (a new array)."""
    scores = np.asarray(scores, dtype=np.float64)
    boosted = np.where(scores >= 0, scores * factor, scores / factor)
    return np.where(mask, boosted, scores)


def slot_item_mask(catalog: pd.DataFrame, slot: SlotConfig) -> np.ndarray:
    """Which catalog rows are the slot's items: category in ``slot.categories`` or a tag in
    ``slot.tags`` (``tags`` is a ``;``-separated string)."""
    by_category = catalog["category"].isin(slot.categories).to_numpy(dtype=bool)
    if not slot.tags or "tags" not in catalog:
        return by_category
    tags = pd.Series(catalog["tags"].fillna("").astype(str).to_numpy())
    exploded = tags.str.split(";").explode().str.strip()
    by_tag = exploded.isin(slot.tags).groupby(level=0).any()
    return by_category | by_tag.reindex(range(len(catalog)), fill_value=False).to_numpy(dtype=bool)


def quiet_window(push: PushConfig) -> tuple[time, time] | None:
    """The quiet hours as ``(start, end)``, or ``None`` when there are none."""
    if not push.quiet_hours:
        return None
    start, end = push.quiet_hours.split("-")
    return parse_hhmm(start), parse_hhmm(end)


def in_quiet_hours(at: datetime, push: PushConfig, zone: ZoneInfo) -> bool:
    """Whether ``at`` falls in the configured quiet hours (local time)."""
    window = quiet_window(push)
    return window is not None and in_window(local_time(at, zone), *window)


def local_date(at: datetime, zone: ZoneInfo) -> date:
    """The calendar day of ``at`` in ``zone`` (for daily push caps)."""
    return at.astimezone(zone).date()


def slot_start(day: date, slot: SlotConfig, zone: ZoneInfo) -> datetime:
    """When ``slot`` starts on ``day``, as an aware datetime in ``zone``."""
    return datetime.combine(day, slot.start_time, tzinfo=zone)


def repeatable_items(catalog: pd.DataFrame | None, categories: Collection[str]) -> set[str]:
    """Ids of the catalog's items in ``categories`` (``rules.repeatable_categories``): those a
    user who has them may be recommended again (serving and the offline evaluation agree)."""
    if catalog is None or not categories or "category" not in catalog:
        return set()
    keep = catalog["category"].isin(list(categories)).to_numpy(bool)
    return set(catalog["item_id"].to_numpy(dtype=object)[keep].tolist())
