"""Serving's side of live monitoring (``storage.monitoring``): what the events and push routes
count for the console, in the live version's time zone and slots.

Counting is best effort: the events are already stored when it runs, so a failure is logged
(logger ``serving.monitoring``), never answered as an error that would make a client send its
batch again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any

import redis.exceptions

from recommender.config import RulesConfig
from recommender.rules import SlotClock
from serving.metrics import Metrics
from storage import monitoring
from storage.errors import NoLiveModel, StorageError
from storage.reader import Store

log = logging.getLogger(__name__)

FreshHook = Callable[[Sequence[int]], Awaitable[None]]
"""Called with the 1-based indices of the events the append script found fresh."""

_DEFAULT_CLOCK = SlotClock(RulesConfig())


async def _clock(live: Any) -> SlotClock:
    """The live version's slot clock (time zone and slots), else the default rules'."""
    try:
        return (await live.current()).clock  # type: ignore[no-any-return]
    except NoLiveModel:
        return _DEFAULT_CLOCK


def _slot_name(clock: SlotClock) -> Callable[[datetime], str | None]:
    def slot_of(at: datetime) -> str | None:
        slot = clock.active(at)
        return slot.name if slot is not None else None
    return slot_of


def events_hook(live: Any, store: Store, events: Sequence[Any],
                metrics: Metrics | None = None) -> FreshHook:
    """The hook that counts the fresh ones among ``events`` (``serving.events.Event``), in
    Redis and (``recsys_events``) in ``metrics``."""

    async def count(fresh: Sequence[int]) -> None:
        observed = [monitoring.Observed(events[i - 1].user_id, events[i - 1].event,
                                        events[i - 1].timestamp) for i in fresh]
        if metrics is not None:
            for event, n in Counter(e.event for e in observed).items():
                metrics.events(event, n)
        try:
            clock = await _clock(live)
            await monitoring.record_events(store, observed, clock.zone, _slot_name(clock))
        except (StorageError, redis.exceptions.RedisError) as exc:
            log.warning("monitoring counts of %d events not written: %s", len(observed), exc)

    return count


async def count_push(store: Store, clock: SlotClock, day: str, at: datetime,
                     metrics: Metrics | None = None) -> None:
    """Count one recorded push on the local date ``day``, in the slot active at ``at`` (the
    version's ``clock``), in Redis and (``recsys_pushes``) in ``metrics``."""
    slot = _slot_name(clock)(at)
    if metrics is not None:
        metrics.push(slot)
    try:
        await monitoring.record_push(store, day, slot, clock.zone)
    except (StorageError, redis.exceptions.RedisError) as exc:
        log.warning("monitoring count of a push not written: %s", exc)
