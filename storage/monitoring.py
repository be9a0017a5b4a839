"""Live monitoring counters: what ``POST /v1/events`` and the push route keep for the console.

Bounded memory whatever the traffic: per local date (the configured time zone) one hash of
counts and a few HyperLogLogs (at most 12 KB each), all expiring ``RETENTION_DAYS`` after the
day; per minute of arrival one small hash kept ``MINUTE_SECONDS``; per user one short string
(the date first seen) that expires ``RETENTION_DAYS`` after the user's last event. The sink's
Parquet files remain the history; these are the last weeks, cheap to read.

Every key carries the hash tag ``{mon}`` (``storage.keys``), so one batch is counted by ONE
atomic script (``RECORD_MONITORING``) and unions of HyperLogLogs (``PFCOUNT a b``) work on a
Redis Cluster too. A day's hash (``Keys.mon_day``) has the fields of ``day_field``:

- ``e:{event}``: events of that type; ``h:{HH}:{event}``: by local hour of the event;
- ``s:{slot}:{event}``: events while the slot was active (the version's slots);
- ``push`` and ``push:{slot}``: pushes recorded by ``POST /v1/users/{id}/push``.

HyperLogLogs per day: the active users (``mon_users(day)``), the users of each event type
(``mon_users(day, event)``: the funnel in users) and the new users (``mon_new(day)``: their
``mon_first`` key was set by this event). Retention of a cohort (new users of day D) on day
D+k is ``|new(D) ∩ users(D+k)|``, by inclusion-exclusion over ``PFCOUNT``s: HyperLogLogs are
exact up to a few hundred members and within about 1% beyond.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from storage.keys import Keys
from storage.reader import Store, unavailable_on_failure
from storage.scripts import Script

RETENTION_DAYS = 40
"""Days a day's counters (and a user's first-seen date, after their last event) are kept."""
MINUTE_SECONDS = 2 * 3600
"""How long a minute's counts are kept."""
FUNNEL = ("view", "cart", "purchase")
"""The steps of the conversion funnel, in order."""
MAX_DAYS = RETENTION_DAYS
"""The most days a reader returns."""

RECORD_MONITORING = Script("""
-- Every key is one of KEYS (all in the {mon} slot). ARGV[1]: seconds a first-seen date lives;
-- ARGV[2]: JSON {"incr": [[key, field, n]], "pfadd": [[key, member, ...]],
-- "first": [[first key, date, new-users key, user]], "expireat": [[key, epoch s]]}, key = index.
local plan = cjson.decode(ARGV[2])
for _, c in ipairs(plan['incr']) do
  redis.call('HINCRBY', KEYS[c[1]], c[2], c[3])
end
for _, c in ipairs(plan['pfadd']) do
  redis.call('PFADD', KEYS[c[1]], unpack(c, 2))
end
for _, c in ipairs(plan['first']) do
  if redis.call('SET', KEYS[c[1]], c[2], 'NX', 'EX', ARGV[1]) then
    redis.call('PFADD', KEYS[c[3]], c[4])
  else
    redis.call('EXPIRE', KEYS[c[1]], ARGV[1])
  end
end
for _, c in ipairs(plan['expireat']) do
  redis.call('EXPIREAT', KEYS[c[1]], c[2])
end
return 1
""")
"""Count one batch of events (``record_events``)."""


@dataclass(frozen=True)
class Observed:
    """One accepted event, as monitoring counts it."""

    user_id: str
    event: str
    at: datetime
    """When it happened (aware)."""


def day_field(event: str, *, hour: int | None = None, slot: str | None = None) -> str:
    """A field of ``Keys.mon_day``: ``e:view``, ``h:07:view`` or ``s:breakfast:view``."""
    if hour is not None:
        return f"h:{hour:02d}:{event}"
    if slot is not None:
        return f"s:{slot}:{event}"
    return f"e:{event}"


def push_field(slot: str | None = None) -> str:
    """The push counter of a day's hash: ``push`` or ``push:{slot}``."""
    return f"push:{slot}" if slot else "push"


def expires_at(day: date, zone: ZoneInfo) -> int:
    """Epoch seconds at which a day's counters expire: ``RETENTION_DAYS`` after it ends."""
    end = datetime.combine(day + timedelta(days=RETENTION_DAYS + 1), time(), zone)
    return int(end.timestamp())


class _Plan:
    """Key indices and commands of one ``RECORD_MONITORING`` call."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        self._index: dict[str, int] = {}
        self.incr: dict[tuple[int, str], int] = defaultdict(int)
        self.pfadd: dict[int, set[str]] = defaultdict(set)
        self.first: dict[str, tuple[int, str, int]] = {}
        self.expireat: dict[int, int] = {}

    def key(self, name: str) -> int:
        index = self._index.get(name)
        if index is None:
            self.keys.append(name)
            index = self._index[name] = len(self.keys)  # Lua is 1-based
        return index

    def args(self) -> list[Any]:
        plan = {
            "incr": [[k, f, n] for (k, f), n in self.incr.items()],
            "pfadd": [[k, *sorted(members)] for k, members in self.pfadd.items()],
            "first": [[k, d, new, user] for user, (k, d, new) in self.first.items()],
            "expireat": [[k, at] for k, at in self.expireat.items()],
        }
        return [RETENTION_DAYS * 86400, orjson.dumps(plan)]


def plan_events(keys: Keys, events: Sequence[Observed], zone: ZoneInfo,
                slot_of: Callable[[datetime], str | None], now: datetime
                ) -> tuple[list[str], list[Any]]:
    """The keys and arguments of ``RECORD_MONITORING`` for ``events`` received at ``now``.

    Events whose day has already expired (more than ``RETENTION_DAYS`` old) are left out of
    the daily counts; every event counts in its minute of arrival.
    """
    plan = _Plan()
    minute = plan.key(keys.mon_minute(int(now.timestamp()) // 60))
    plan.expireat[minute] = int(now.timestamp()) + MINUTE_SECONDS
    oldest = now.astimezone(zone).date() - timedelta(days=RETENTION_DAYS)
    for event in sorted(events, key=lambda e: e.at):
        plan.incr[(minute, event.event)] += 1
        local = event.at.astimezone(zone)
        day = local.date()
        if day < oldest:
            continue
        name = day.isoformat()
        counts = plan.key(keys.mon_day(name))
        plan.incr[(counts, day_field(event.event))] += 1
        plan.incr[(counts, day_field(event.event, hour=local.hour))] += 1
        slot = slot_of(event.at)
        if slot is not None:
            plan.incr[(counts, day_field(event.event, slot=slot))] += 1
        users, typed = plan.key(keys.mon_users(name)), plan.key(keys.mon_users(name, event.event))
        plan.pfadd[users].add(event.user_id)
        plan.pfadd[typed].add(event.user_id)
        if event.user_id not in plan.first:  # events are sorted: the user's earliest day
            plan.first[event.user_id] = (plan.key(keys.mon_first(event.user_id)), name,
                                         plan.key(keys.mon_new(name)))
        at = expires_at(day, zone)
        for index in (counts, users, typed, plan.first[event.user_id][2]):
            plan.expireat[index] = at
    return plan.keys, plan.args()


async def record_events(store: Store, events: Sequence[Observed], zone: ZoneInfo,
                        slot_of: Callable[[datetime], str | None],
                        now: datetime | None = None) -> None:
    """Count ``events`` (accepted, not duplicates) in one atomic script (one round trip)."""
    if not events:
        return
    names, args = plan_events(store.keys, events, zone, slot_of, now or datetime.now(UTC))
    await store.script(RECORD_MONITORING, names, args)


async def after_append(appended: Awaitable[list[int]],
                       count: Callable[[list[int]], Awaitable[None]] | None) -> list[int]:
    """``appended`` (the append script's fresh event indices, 1-based), then ``count(fresh)``
    when given: what ``storage.events.append`` wraps its script in."""
    fresh = await appended
    if count is not None and fresh:
        await count(fresh)
    return fresh


async def record_push(store: Store, day: str, slot: str | None, zone: ZoneInfo) -> None:
    """Count one push recorded on the local date ``day`` (YYYY-MM-DD), in ``slot`` if any."""
    key = store.keys.mon_day(day)
    at = expires_at(date.fromisoformat(day), zone)

    def queue(pipe: Any) -> None:
        pipe.hincrby(key, push_field(), 1)
        if slot:
            pipe.hincrby(key, push_field(slot), 1)
        pipe.expireat(key, at)

    await store.pipeline(queue)


# reading, for the console


@dataclass(frozen=True)
class DayStats:
    """One local date: users, events and pushes."""

    day: str
    active_users: int
    new_users: int
    funnel_users: dict[str, int]
    """Users who sent each ``FUNNEL`` event type that day."""
    events: dict[str, int]
    """Event type -> count."""
    by_hour: dict[str, list[int]]
    """Event type -> 24 counts by local hour."""
    by_slot: dict[str, dict[str, int]]
    """Slot -> event type -> count."""
    pushes: int
    pushes_by_slot: dict[str, int] = field(default_factory=dict)

    @property
    def returning_users(self) -> int:
        return max(0, self.active_users - self.new_users)


@dataclass(frozen=True)
class Cohort:
    """The users first seen on ``day`` and how many came back a day and a week later
    (``None`` while that day has not come)."""

    day: str
    users: int
    day1: int | None
    day7: int | None


def parse_day(day: str, raw: dict[bytes, bytes], active: int, new: int,
              funnel: dict[str, int]) -> DayStats:
    """A ``DayStats`` from a day's hash and its ``PFCOUNT``s."""
    events: dict[str, int] = {}
    by_hour: dict[str, list[int]] = {}
    by_slot: dict[str, dict[str, int]] = defaultdict(dict)
    pushes_by_slot: dict[str, int] = {}
    pushes = 0
    for name, value in raw.items():
        field_name, count = name.decode(), int(value)
        kind, _, rest = field_name.partition(":")
        if kind == "e":
            events[rest] = count
        elif kind == "h":
            hour, _, event = rest.partition(":")
            by_hour.setdefault(event, [0] * 24)[int(hour)] = count
        elif kind == "s":
            slot, _, event = rest.rpartition(":")
            by_slot[slot][event] = count
        elif field_name == push_field():
            pushes = count
        elif kind == "push":
            pushes_by_slot[rest] = count
    return DayStats(day, active, new, funnel, events, by_hour, dict(by_slot), pushes,
                    pushes_by_slot)


async def _pfcounts(store: Store, groups: Sequence[Sequence[str]]) -> list[int]:
    """``PFCOUNT`` of each group of keys (the union's cardinality): pipelined on one Redis,
    sent together on a cluster (whose pipeline refuses PFCOUNT)."""
    if not groups:
        return []
    if not store.cluster:
        return [int(n) for n in await store.pipeline(
            lambda pipe: [pipe.pfcount(*group) for group in groups])]
    async with unavailable_on_failure():
        return [int(n) for n in await asyncio.gather(
            *(store.client.pfcount(*group) for group in groups))]


def last_days(today: date, count: int) -> list[str]:
    """The ``count`` dates up to ``today``, oldest first (``count`` capped at ``MAX_DAYS``)."""
    count = max(1, min(count, MAX_DAYS))
    return [(today - timedelta(days=back)).isoformat() for back in range(count - 1, -1, -1)]


async def read_days(store: Store, days: Sequence[str]) -> list[DayStats]:
    """The counts of each local date in ``days`` (one round trip for the hashes, one for the
    ``PFCOUNT``s)."""
    keys = store.keys
    raws = await store.pipeline(lambda pipe: [pipe.hgetall(keys.mon_day(d)) for d in days])
    groups: list[list[str]] = []
    for day in days:
        groups += [[keys.mon_users(day)], [keys.mon_new(day)],
                   *([keys.mon_users(day, event)] for event in FUNNEL)]
    counts = await _pfcounts(store, groups)
    width = 2 + len(FUNNEL)
    out = []
    for i, (day, raw) in enumerate(zip(days, raws, strict=True)):
        row = counts[i * width : (i + 1) * width]
        out.append(parse_day(day, raw, row[0], row[1], dict(zip(FUNNEL, row[2:], strict=True))))
    return out


async def read_cohorts(store: Store, days: Sequence[str], today: date) -> list[Cohort]:
    """D1 and D7 retention of the new users of each date in ``days``."""
    keys = store.keys
    groups: list[list[str]] = []
    plans: list[tuple[str, int, list[int | None]]] = []
    for day in days:
        start = date.fromisoformat(day)
        cohort = len(groups)
        groups.append([keys.mon_new(day)])
        later: list[int | None] = []
        for offset in (1, 7):
            then = start + timedelta(days=offset)
            if then > today:
                later.append(None)
                continue
            other = keys.mon_users(then.isoformat())
            later.append(len(groups))
            groups += [[other], [keys.mon_new(day), other]]
        plans.append((day, cohort, later))
    counts = await _pfcounts(store, groups)
    out = []
    for day, cohort, later in plans:
        users = counts[cohort]
        kept = [None if at is None else max(0, min(users, users + counts[at] - counts[at + 1]))
                for at in later]
        out.append(Cohort(day, users, kept[0], kept[1]))
    return out


async def read_minutes(store: Store, now: datetime, minutes: int = 10
                       ) -> list[tuple[int, dict[str, int]]]:
    """Events received per minute and type, the last ``minutes`` (at most 60) up to ``now``:
    ``(epoch minute, {event: count})``, oldest first."""
    last = int(now.timestamp()) // 60
    span = list(range(last - max(1, min(minutes, 60)) + 1, last + 1))
    raws = await store.pipeline(lambda pipe: [pipe.hgetall(store.keys.mon_minute(m))
                                              for m in span])
    return [(m, {k.decode(): int(v) for k, v in raw.items()})
            for m, raw in zip(span, raws, strict=True)]
