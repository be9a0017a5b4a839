"""The events stream: appending a validated batch (``POST /v1/events``).

One ``APPEND_EVENTS`` script (``storage.scripts``) per batch, atomic on the ``{events}`` hash
slot: for each event with an ``event_id``, look it up in its de-duplication shard (a sorted set
of the ids accepted in the last ``DEDUPE_SECONDS``, its newest ``DEDUPE_PER_SHARD`` kept: bounded
memory) and add it, and only if it was not there (or the event has no id): ``XADD`` to the
stream and count its A/B attribution. Sent
together with it (on its own connection; on a cluster, to the users' nodes), each purchase's item
is recorded in the user's ``purchased`` sorted set (item id -> epoch seconds recorded), which
recommendations read, so it is excluded from the next response; and each event of weight > 0 in
the user's ``recent`` sorted set (item id -> the event's epoch seconds), the live items that
real-time personalization starts from (``recommender.realtime``). Per user and set, ``ZADD`` the
items, drop those older than the set's window (``PURCHASED_DAYS``; ``realtime.window_hours``),
keep the newest ``PURCHASED_MAX`` (``realtime.max_items``) and renew the key's expiry (in one
``MULTI``/``EXEC`` on one Redis): a user's live state stays bounded whatever their history, and
a duplicate or a retried batch only refreshes the time of what is there. The script also adds
each fresh event's weight to the trending counts of its hour (``Keys.trending``), which keep
their ``realtime.trending_items`` most counted items and expire after ``realtime.trending_hours``.

The stream itself is trimmed by its readers once every consumer group has acknowledged
(``training.sink``).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import orjson
import redis.exceptions

from recommender.config import RealtimeConfig
from storage.keys import Keys
from storage.monitoring import after_append
from storage.reader import Store, unavailable_on_failure
from storage.scripts import APPEND_EVENTS

DEDUPE_SECONDS = 7 * 24 * 3600
"""How long an ``event_id`` is remembered at most."""
DEDUPE_PER_SHARD = 4096
"""The newest ``event_id``s each of the ``DEDUPE_SHARDS`` de-duplication shards remembers: at
most 262,144 ids in all (about 30 MiB), whatever the traffic. An id is forgotten after
``DEDUPE_SECONDS``, or once 4,096 newer ids fell into its shard (about 262,000 newer ids in all;
docs/redis-layout.md)."""
PURCHASED_MAX = 200
"""The most recent purchases kept per user (what a recommendation reads of the user's history)."""
PURCHASED_DAYS = 30
"""How long a recorded purchase counts, and the expiry of the user's key (renewed on each)."""
PURCHASED_SECONDS = PURCHASED_DAYS * 24 * 3600
_COMMANDS = 4
"""Commands ``_write_live`` sends per user and set."""
HOUR = 3600


@dataclass(frozen=True)
class Attribution:
    """What an accepted event counts for an A/B test: ``field`` of hash ``counts``, once per
    ``seen`` key."""

    seen: str
    counts: str
    field: str


@dataclass(frozen=True)
class StreamEvent:
    """One validated event: the stream entry's fields and what it changes besides."""

    fields: list[str]
    user_id: str
    item_id: str
    event_id: str | None
    purchase: bool
    attribution: Attribution | None = None
    rejected: str | None = None
    """The reason its ``rec_id`` was not attributed, to be counted (``forged``, ...)."""
    weight: float = 0.0
    """The event type's weight: > 0 makes it live state and counts it for trending."""
    seconds: float = 0.0
    """The event's time, epoch seconds."""


@dataclass(frozen=True)
class LiveWrite:
    """What one user's live state gets from a batch: item -> epoch seconds, per set."""

    purchased: dict[str, float]
    recent: dict[str, float]


async def append(store: Store, events: Sequence[StreamEvent], window_seconds: int,
                 realtime: RealtimeConfig | None = None,
                 monitor: Callable[[list[int]], Awaitable[None]] | None = None
                 ) -> tuple[int, int]:
    """Append ``events`` (see the module doc); ``(accepted, duplicates)``. ``realtime`` (the
    live version's, else the defaults) bounds the live state and the trending counts; with
    ``realtime.enabled`` false neither is written."""
    realtime = realtime or RealtimeConfig()
    now = time.time()
    keys: Keys = store.keys
    stream = keys.events()
    trend_hours = _trend_hours(events, now, realtime)
    dedupe = [keys.event_seen(e.event_id) if e.event_id else stream for e in events]
    seen = [e.attribution.seen if e.attribution else stream for e in events]
    counts = [e.attribution.counts if e.attribution else stream for e in events]
    trend = [keys.trending(hour) if hour is not None else stream for hour in trend_hours]
    spec = [[e.fields, e.event_id or "", _ab(e), e.item_id,
             e.weight if hour is not None else 0,
             (hour + realtime.trending_hours + 1) * HOUR if hour is not None else 0]
            for e, hour in zip(events, trend_hours, strict=True)]
    script_keys = [stream, keys.ab_rejected(), *dedupe, *seen, *counts, *trend]
    args = [DEDUPE_SECONDS, max(1, window_seconds), orjson.dumps(spec),
            realtime.trending_items, DEDUPE_PER_SHARD, now]
    live = _live_writes(events, now, realtime)
    appended = store.script(APPEND_EVENTS, script_keys, args)
    appended = after_append(appended, monitor)  # then monitor(fresh indices): storage.monitoring
    if not live:
        fresh = await appended
        return len(fresh), len(events) - len(fresh)
    results = await asyncio.gather(appended, record_live(store, live, now, realtime),
                                   return_exceptions=True)
    for result in results:  # both ran to the end: raise only then
        if isinstance(result, BaseException):
            raise result
    fresh = results[0]
    return len(fresh), len(events) - len(fresh)


def _trend_hours(events: Sequence[StreamEvent], now: float, realtime: RealtimeConfig
                 ) -> list[int | None]:
    """Per event, the hour (epoch hours) whose trending counts it adds to; ``None`` for none
    (weight 0, real time off, or older than the trending window)."""
    oldest = int(now // HOUR) - realtime.trending_hours + 1
    out: list[int | None] = []
    for event in events:
        hour = int(event.seconds // HOUR)
        keep = realtime.enabled and event.weight > 0 and hour >= oldest
        out.append(min(hour, int(now // HOUR)) if keep else None)
    return out


def _live_writes(events: Sequence[StreamEvent], now: float, realtime: RealtimeConfig
                 ) -> dict[str, LiveWrite]:
    """Per user, what the batch adds to their purchases and live items (newest time kept)."""
    live: dict[str, LiveWrite] = defaultdict(lambda: LiveWrite({}, {}))
    window = realtime.window_hours * HOUR
    for event in events:
        if event.purchase:
            live[event.user_id].purchased[event.item_id] = now
        if realtime.enabled and event.weight > 0 and event.seconds > now - window:
            recent = live[event.user_id].recent
            recent[event.item_id] = max(recent.get(event.item_id, 0.0), min(event.seconds, now))
    return dict(live)


async def record_purchases(store: Store, purchases: dict[str, list[str]], now: float) -> None:
    """Record ``user id -> items bought`` at ``now`` (epoch seconds), as ``POST /v1/events``
    does for purchases (see the module doc)."""
    live = {user: LiveWrite(dict.fromkeys(items, now), {}) for user, items in purchases.items()}
    await record_live(store, live, now, RealtimeConfig())


async def record_live(store: Store, live: dict[str, LiveWrite], now: float,
                      realtime: RealtimeConfig) -> None:
    """Record each user's purchases and live items, every user in one round trip (see the
    module doc). A purchases key still holding a plain set (written before purchases were a
    sorted set) is replaced."""
    legacy = await _write_live(store, list(live), live, now, realtime)
    if legacy:
        async with unavailable_on_failure():
            await asyncio.gather(*(store.client.unlink(store.keys.purchased(user))
                                   for user in legacy))
        await _write_live(store, legacy, live, now, realtime)


async def _write_live(store: Store, users: list[str], live: dict[str, LiveWrite], now: float,
                      realtime: RealtimeConfig) -> list[str]:
    """The commands of ``record_live`` for ``users``; the users whose purchases key has
    another type.

    On one Redis they run in one ``MULTI``/``EXEC``. On a cluster they are pipelined without it
    (redis-py runs each command of a cluster transaction in a thread and event loop of its own):
    each command is idempotent, so a write cut short leaves the bound or the expiry to the
    user's next event.
    """
    window = realtime.window_hours * HOUR
    sets = [(store.keys.purchased, "purchased", PURCHASED_SECONDS, PURCHASED_MAX),
            (store.keys.recent, "recent", window, realtime.max_items)]
    async with unavailable_on_failure():
        pipe = store.client.pipeline(transaction=not store.cluster)
        owners: list[tuple[str, str]] = []
        for user in users:
            for key_of, part, seconds, most in sets:
                items = getattr(live[user], part)
                if not items:
                    continue
                key = key_of(user)
                pipe.zadd(key, items)
                pipe.zremrangebyscore(key, "-inf", f"({now - seconds}")
                pipe.zremrangebyrank(key, 0, -(most + 1))
                pipe.expire(key, int(seconds))
                owners.append((user, part))
        replies = await pipe.execute(raise_on_error=False)
    wrong = []
    for index, (user, part) in enumerate(owners):
        errors = [reply for reply in replies[index * _COMMANDS : (index + 1) * _COMMANDS]
                  if isinstance(reply, redis.exceptions.ResponseError)]
        if errors and (part != "purchased"
                       or any("WRONGTYPE" not in str(error) for error in errors)):
            raise errors[0]
        if errors:
            wrong.append(user)
    return wrong


def _ab(event: StreamEvent) -> str:
    """The ``ab`` element of an event in the script's spec."""
    if event.attribution is not None:
        return event.attribution.field
    return f"!{event.rejected}" if event.rejected else ""
