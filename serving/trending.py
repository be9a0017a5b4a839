"""Popular lists that move with the shop: the training popularity fused with trending, the live
events of the last ``realtime.trending_hours`` (``recommender.realtime``).

The trending counts are per hour in Redis (``Keys.trending``, written with each batch of events).
Each worker re-reads them every ``REFRESH_SECONDS`` in the background and rebuilds the fused
popular list of every kind and slot (a slot counts the hours it was active in), so a request
pays nothing for it. Until the first refresh, or with real time off, the published lists serve.
"""

from __future__ import annotations

import asyncio
import logging
import time

import numpy as np

from recommender import realtime
from recommender.config import SlotConfig
from recommender.lists import RankedList
from serving.live import LiveVersions
from serving.version import VersionView
from storage.errors import NoLiveModel, StoreUnavailable
from storage.keys import ANY_SLOT, popular_field
from storage.reader import Store

REFRESH_SECONDS = 10.0
log = logging.getLogger(__name__)


class Trending:
    """The fused popular lists of the live version, refreshed by ``refresh_every``."""

    def __init__(self, store: Store, live: LiveVersions) -> None:
        self.store = store
        self.live = live
        self._namespace: str | None = None
        self._lists: dict[str, RankedList] = {}

    def popular(self, view: VersionView, kind: str, slot: SlotConfig | None) -> RankedList:
        """The popular list of ``kind`` and ``slot`` with trending fused in (the published one
        until the first refresh of this version)."""
        if self._namespace == view.namespace:
            found = self._lists.get(popular_field(kind, slot.name if slot else ANY_SLOT))
            if found is not None:
                return found
        return view.popular_list(kind, slot)

    async def refresh(self, now: float | None = None) -> None:
        """Re-read the trending counts and rebuild the lists of the live version."""
        try:
            view = await self.live.current()
        except NoLiveModel:
            return
        config = view.realtime
        if not config.enabled:
            self._namespace, self._lists = view.namespace, {}
            return
        hours = realtime.trending_hours(int((now or time.time()) // 3600), config)
        keys = [self.store.keys.trending(hour) for hour in hours]
        replies = await self.store.pipeline(
            lambda pipe: [pipe.zrange(key, 0, -1, withscores=True) for key in keys])
        index_of = view.index_of
        counts = {hour: {index_of[member.decode()]: score for member, score in reply
                         if member.decode() in index_of}
                  for hour, reply in zip(hours, replies, strict=True)}
        self._lists = build_lists(view, counts)
        self._namespace = view.namespace

    async def refresh_every(self, seconds: float = REFRESH_SECONDS) -> None:
        """``refresh`` forever; a failed refresh keeps the lists it had and is logged (an
        unexpected error with its traceback: the loop goes on either way)."""
        while True:
            try:
                await self.refresh()
            except StoreUnavailable as exc:
                log.warning("trending not refreshed: %s", exc.__cause__ or exc)
            except Exception:
                log.exception("trending not refreshed")
            await asyncio.sleep(seconds)


def build_lists(view: VersionView, counts: dict[int, dict[int, float]]) -> dict[str, RankedList]:
    """Per kind and slot (and any time): the published popular list fused with the trending
    items of that kind counted in the slot's hours."""
    config, zone = view.realtime, view.rules.zone
    slots: list[SlotConfig | None] = [None, *view.rules.slots]
    out: dict[str, RankedList] = {}
    for slot in slots:
        hours = list(counts) if slot is None else realtime.in_slot_hours(list(counts), slot, zone)
        trend = realtime.trending(counts[hour] for hour in hours)
        for kind in view.kinds:
            base = view.popular_list(kind, slot)
            if not len(base.items):
                continue
            kind_of = view.kind_of
            mine = [item for item in trend if kind_of[item] == kind]
            n = max(len(base.items), min(view.manifest.top_n, len(base.items) + len(mine)))
            fused = realtime.with_trending(base.items.tolist(), mine, config, n)
            out[popular_field(kind, slot.name if slot else ANY_SLOT)] = RankedList(
                np.array([f.item for f in fused], dtype=np.int64),
                np.array([f.score * 100 for f in fused], dtype=np.float64))  # as a fused list
    return out
