"""The events stream: appending a validated batch (``POST /v1/events``).

One ``APPEND_EVENTS`` script (``storage.scripts``) per batch, atomic on the ``{events}`` hash
slot: for each event with an ``event_id``, ``SET`` its de-duplication key ``NX EX``, and only if
that set it (or the event has no id): ``XADD`` to the stream and count its A/B attribution. Sent
together with it (on its own connection; on a cluster, to the users' nodes), each purchase's item
is added to the user's ``purchased`` set, which recommendations read, so it is excluded from the
next response: adding to a set is idempotent, so a duplicate or a retried batch changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from storage.keys import Keys
from storage.reader import Store
from storage.scripts import APPEND_EVENTS

DEDUPE_SECONDS = 7 * 24 * 3600
"""How long an ``event_id`` is remembered."""


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
    purchases = [e for e in events if e.purchase]

    def add_purchases(pipe: Any) -> None:
        for event in purchases:
            pipe.sadd(keys.purchased(event.user_id), event.item_id)

    appended = store.script(APPEND_EVENTS, script_keys, args)
    if purchases:
        fresh, _ = await asyncio.gather(appended, store.pipeline(add_purchases))
    else:
        fresh = await appended
    return len(fresh), len(events) - len(fresh)


def _ab(event: StreamEvent) -> str:
    """The ``ab`` element of an event in the script's spec."""
    if event.attribution is not None:
        return event.attribution.field
    return f"!{event.rejected}" if event.rejected else ""
