"""Realistic synthetic data of a mini-program business: a catalog and a behaviour log.

``synthesize`` returns canonical frames (see the data contract in ``docs/spec.md``); the same
seed gives the same frames, and ``write_synth`` the same bytes. The behaviour has structure a
model can learn (category tastes, a preferred style per category, favourite items), time-of-day
habits in Asia/Shanghai (breakfast regulars buying most mornings between 06:30 and 09:30), a
view → cart → purchase funnel, and new items with little history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from recommender.synth.behaviour import EVENT_TYPES, make_events, make_sessions, make_users
from recommender.synth.catalog import (
    CATEGORIES,
    CATEGORY_NAMES,
    SECONDS_PER_DAY,
    format_ids,
    make_items,
)
from recommender.synth.writer import SYNTH_FORMATS, write_synth

__all__ = [
    "CATEGORIES",
    "CATEGORY_NAMES",
    "DEFAULT_START",
    "EVENT_TYPES",
    "SYNTH_FORMATS",
    "TIMEZONE",
    "SynthData",
    "synthesize",
    "write_synth",
]

DEFAULT_START = date(2024, 9, 2)
"""First day when none is given: fixed, so that a seed alone decides the output."""
TIMEZONE = "Asia/Shanghai"
UTC_OFFSET_SECONDS = 8 * 3600
"""Asia/Shanghai has been UTC+8 all year since 1991: local midnight = UTC 16:00 the day before."""


@dataclass(frozen=True)
class SynthData:
    """A synthetic data set: canonical ``events`` and ``catalog`` frames."""

    events: pd.DataFrame
    catalog: pd.DataFrame


def _strings(values: np.ndarray, indices: np.ndarray) -> pd.Series:
    return pd.Series(pa.array(values, type=pa.string()).take(pa.array(indices)), dtype="str")


def synthesize(
    users: int = 2000,
    items: int = 500,
    days: int = 60,
    seed: int = 42,
    start: date | None = None,
) -> SynthData:
    """Generate ``days`` days of behaviour of ``users`` users on a catalog of ``items`` items.

    Parameters
    ----------
    users, items, days
        Sizes; ``items`` must be at least the number of categories (7). Users who happen to have
        no session do not appear in the events.
    seed
        Seed of the only random generator used: same arguments, same frames.
    start
        First local (Asia/Shanghai) day of the window; ``DEFAULT_START`` when ``None``.

    Returns
    -------
    SynthData
        Events sorted by time with a unique ``event_id`` and an empty ``rec_id``; the catalog.
    """
    if users < 1 or days < 1:
        raise ValueError(f"users and days must be positive, got users={users}, days={days}")
    first_day = start or DEFAULT_START
    local_midnight = (first_day - date(1970, 1, 1)).days * SECONDS_PER_DAY
    origin = local_midnight - UTC_OFFSET_SECONDS
    rng = np.random.default_rng(seed)

    catalog = make_items(items, origin, days, rng)
    people = make_users(users, catalog, rng)
    sessions = make_sessions(people, days, first_day.weekday(), rng)
    raw = make_events(people, catalog, sessions, catalog.created - origin, rng)

    user_ids = format_ids("u", np.arange(1, users + 1), width=5).to_numpy()
    events = pd.DataFrame(
        {
            "user_id": _strings(user_ids, raw.user),
            "item_id": _strings(catalog.frame["item_id"].to_numpy(), raw.item),
            "event": _strings(np.array(EVENT_TYPES, dtype=object), raw.event),
            "timestamp": pd.to_datetime(raw.seconds + origin, unit="s", utc=True).as_unit("ns"),
            "rec_id": pd.Series(pa.nulls(len(raw.seconds), pa.string()), dtype="str"),
            "event_id": format_ids("e", np.arange(1, len(raw.seconds) + 1), width=8),
        }
    )
    return SynthData(events=events, catalog=catalog.frame)
