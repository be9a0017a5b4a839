"""The events stream: appending a validated batch (``POST /v1/events``).

One ``APPEND_EVENTS`` script (``storage.scripts``) per batch, atomic on the ``{events}`` hash
slot: for each event with an ``event_id``, ``SET`` its de-duplication key ``NX EX``, and only if
that set it (or the event has no id): ``XADD`` to the stream and count its A/B attribution. Sent
together with it (on its own connection; on a cluster, to the users' nodes), each purchase's item
is recorded in the user's ``purchased`` sorted set (item id -> epoch seconds recorded), which
recommendations read, so it is excluded from the next response. Per user, ``ZADD`` the items,
drop those recorded more than ``PURCHASED_DAYS`` ago, keep the most recent ``PURCHASED_MAX`` and
renew the key's expiry (in one ``MULTI``/``EXEC`` on one Redis): a user's live state stays
bounded whatever their history, and a duplicate or a retried batch only refreshes the time of
what is there.

The stream itself is trimmed by its readers once every consumer group has acknowledged
(``training.sink``).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
import redis.exceptions

from storage.keys import Keys
from storage.reader import Store, unavailable_on_failure
from storage.scripts import APPEND_EVENTS

DEDUPE_SECONDS = 7 * 24 * 3600
"""How long an ``event_id`` is remembered."""
PURCHASED_MAX = 200
"""The most recent purchases kept per user (what a recommendation reads of the user's history)."""
PURCHASED_DAYS = 30
"""How long a recorded purchase counts, and the expiry of the user's key (renewed on each)."""
PURCHASED_SECONDS = PURCHASED_DAYS * 24 * 3600
_COMMANDS = 4
"""Commands ``_write_purchases`` sends per user."""


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


async def append(store: Store, events: Sequence[StreamEvent], window_seconds: int
                 ) -> tuple[int, int]:
    """Append ``events`` (see the module doc); ``(accepted, duplicates)``."""
    keys: Keys = store.keys
    stream = keys.events()
    dedupe = [keys.event_seen(e.event_id) if e.event_id else stream for e in events]
    seen = [e.attribution.seen if e.attribution else stream for e in events]
    counts = [e.attribution.counts if e.attribution else stream for e in events]
    spec = [[e.fields, int(e.event_id is not None), _ab(e)] for e in events]
    script_keys = [stream, keys.ab_rejected(), *dedupe, *seen, *counts]
    args = [DEDUPE_SECONDS, max(1, window_seconds), orjson.dumps(spec)]
    purchases: dict[str, list[str]] = defaultdict(list)
    for event in events:
        if event.purchase:
            purchases[event.user_id].append(event.item_id)
    appended = store.script(APPEND_EVENTS, script_keys, args)
    if not purchases:
        fresh = await appended
        return len(fresh), len(events) - len(fresh)
    results = await asyncio.gather(appended, record_purchases(store, purchases, time.time()),
                                   return_exceptions=True)
    for result in results:  # both ran to the end: raise only then
        if isinstance(result, BaseException):
            raise result
    fresh = results[0]
    return len(fresh), len(events) - len(fresh)


async def record_purchases(store: Store, purchases: dict[str, list[str]], now: float) -> None:
    """Record ``user id -> items bought`` at ``now`` (epoch seconds), every user in one round
    trip (see the module doc). A key still holding a plain set (written before purchases were
    a sorted set) is replaced."""
    legacy = await _write_purchases(store, list(purchases), purchases, now)
    if legacy:
        async with unavailable_on_failure():
            await asyncio.gather(*(store.client.unlink(store.keys.purchased(user))
                                   for user in legacy))
        await _write_purchases(store, legacy, purchases, now)


async def _write_purchases(store: Store, users: list[str], purchases: dict[str, list[str]],
                           now: float) -> list[str]:
    """The commands of ``record_purchases`` for ``users``; the users whose key has another type.

    On one Redis they run in one ``MULTI``/``EXEC``. On a cluster they are pipelined without it
    (redis-py runs each command of a cluster transaction in a thread and event loop of its own):
    each command is idempotent, so a write cut short leaves the bound or the expiry to the
    user's next purchase.
    """
    async with unavailable_on_failure():
        pipe = store.client.pipeline(transaction=not store.cluster)
        for user in users:
            key = store.keys.purchased(user)
            pipe.zadd(key, dict.fromkeys(purchases[user], now))
            pipe.zremrangebyscore(key, "-inf", f"({now - PURCHASED_SECONDS}")
            pipe.zremrangebyrank(key, 0, -(PURCHASED_MAX + 1))
            pipe.expire(key, PURCHASED_SECONDS)
        replies = await pipe.execute(raise_on_error=False)
    wrong = []
    for index, user in enumerate(users):
        errors = [reply for reply in replies[index * _COMMANDS : (index + 1) * _COMMANDS]
                  if isinstance(reply, redis.exceptions.ResponseError)]
        if any("WRONGTYPE" not in str(error) for error in errors):
            raise errors[0]
        if errors:
            wrong.append(user)
    return wrong


def _ab(event: StreamEvent) -> str:
    """The ``ab`` element of an event in the script's spec."""
    if event.attribution is not None:
        return event.attribution.field
    return f"!{event.rejected}" if event.rejected else ""
