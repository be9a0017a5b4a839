"""Which version is live: the pointer is re-read at most every ``refresh_seconds``.

The version served is ``RECSYS_MODEL_NAME``'s, else the default model's, else the only live one
(``storage.live.choose``): publishing another model name does not change it.

A newly published version is therefore noticed within about a second, without a restart. While
one request reloads the pointer (and, on a change, the new version's tables), concurrent requests
keep answering from the version they already have.

A loaded version is moved out of the cyclic garbage collector's sight (``gc.freeze``), with
everything else alive at that moment (the app, its modules): objects that live for hours gain
nothing from being traversed, and a full collection over them paused every request in flight for
about 180 ms on the synth shop (``benchmarks/RESULTS.md``, ``## bench_serving``). Frozen objects
are still freed by reference counting when a newer version replaces them.
"""

from __future__ import annotations

import asyncio
import gc
import time

from serving.version import VersionView
from storage import live
from storage.reader import Store


class LiveVersions:
    """The current ``VersionView``, refreshed from Redis when older than ``refresh_seconds``."""

    def __init__(self, store: Store, model_name: str | None, refresh_seconds: float) -> None:
        self.store = store
        self.model_name = model_name
        self.refresh_seconds = refresh_seconds
        self._view: VersionView | None = None
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    async def current(self) -> VersionView:
        view = self._view
        if view is not None and time.monotonic() - self._checked < self.refresh_seconds:
            return view
        if view is not None and self._lock.locked():
            return view  # another request is refreshing; this one keeps the version it has
        async with self._lock:
            if self._view is None or time.monotonic() - self._checked >= self.refresh_seconds:
                await self._refresh()
            assert self._view is not None
            return self._view

    async def _refresh(self) -> None:
        pointers = live.parse_pointers(
            await self.store.pipeline(lambda pipe: live.queue_pointers(pipe, self.store.keys)))
        namespace = live.choose(pointers.live, self.model_name, pointers.default)
        if self._view is None or self._view.namespace != namespace:
            keys = self.store.keys.version(namespace)
            self._view = VersionView.from_blobs(namespace, keys, await self.store.version(keys))
            gc.freeze()  # see the module docstring
        self._checked = time.monotonic()
