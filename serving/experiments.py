"""A/B experiments in serving: which are running, and which variant serves a user.

``recsys ab start`` writes an experiment to the hash ``Keys.experiments`` (one JSON record per
name, ``docs/redis-layout.md``). Serving re-reads the hash at most every
``RECSYS_LIVE_REFRESH_SECONDS`` (1 s), in the same pipelined round trip that writes the buffered
impressions (``serving.attribution.Impressions``), so experiments start and stop without a
restart. The published version of each variant is loaded once, like the live one.

**Assignment**: the first 8 bytes of ``BLAKE2b("<experiment>:<user_id>")`` as an integer in
``[0, 2**64)``, against the cumulative weights of the variants: stable for a user, independent
between experiments, and shares follow the weights. Only traffic of the experiment's kinds (all
kinds when it names none) is split; the rest gets the live version.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Request

from recommender.abtest import build_report
from serving.attribution import Impressions, read_counts
from serving.live import LiveVersions
from serving.rec_ids import RecIdSigner, load_signer
from serving.settings import ServingSettings
from serving.version import VersionView
from storage.errors import NoLiveModel, StoreUnavailable
from storage.experiments import ExperimentRecord, parse_records
from storage.reader import Store

FLUSH_SECONDS = 1.0
"""How often a serving worker writes its buffered impressions, with or without traffic."""
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Arm:
    """The experiment and variant serving one request, and the version it answers from."""

    experiment: str
    variant: str
    view: VersionView


class Experiments:
    """The running experiments and their versions, refreshed at most every ``refresh_seconds``."""

    def __init__(self, store: Store, live: LiveVersions, impressions: Impressions,
                 refresh_seconds: float) -> None:
        self.store = store
        self.live = live
        self.impressions = impressions
        self.refresh_seconds = refresh_seconds
        self.running: tuple[ExperimentRecord, ...] = ()
        self._raw: dict[bytes, bytes] | None = None
        self._views: dict[str, VersionView] = {}
        self._checked = float("-inf")
        self._lock = asyncio.Lock()

    async def arm(self, user_id: str, kind: str) -> Arm | None:
        """The arm serving ``user_id``'s ``kind`` request, or ``None`` (the live version)."""
        await self.current()
        for experiment in self.running:
            if experiment.covers(kind):
                variant = experiment.assign(user_id)
                return Arm(experiment.name, variant.name, self._views[variant.namespace])
        return None

    async def current(self) -> tuple[ExperimentRecord, ...]:
        """The running experiments (re-read when older than ``refresh_seconds``)."""
        if time.monotonic() - self._checked < self.refresh_seconds or (
            self._lock.locked() and self._raw is not None
        ):
            return self.running
        async with self._lock:
            if time.monotonic() - self._checked >= self.refresh_seconds:
                await self._refresh()
        return self.running

    async def _refresh(self) -> None:
        key = self.store.keys.experiments()
        (raw,) = await self.impressions.flush(self.store, lambda p: p.hgetall(key))
        if raw != self._raw:
            running = tuple(e for e in parse_records(list(raw.values())) if e.running)
            self._views = await self._load_views(running)
            # An experiment with a variant whose version is gone is not served at all, so
            # that its arms stay comparable; its users get the live version.
            self.running = tuple(e for e in running
                                 if all(v.namespace in self._views for v in e.variants))
            self._raw = raw
        self._checked = time.monotonic()

    async def _load_views(self, running: tuple[ExperimentRecord, ...]) -> dict[str, VersionView]:
        """The versions the variants serve: kept, the live one, or loaded from Redis."""
        views = {}
        try:
            live: VersionView | None = await self.live.current()
        except NoLiveModel:
            live = None
        for namespace in {v.namespace for e in running for v in e.variants}:
            if namespace in self._views:
                views[namespace] = self._views[namespace]
            elif live is not None and live.namespace == namespace:
                views[namespace] = live
            else:
                keys = self.store.keys.version(namespace)
                try:
                    views[namespace] = VersionView.from_blobs(
                        namespace, keys, await self.store.version(keys))
                except NoLiveModel:
                    log.warning("experiment version %s is not in Redis; the experiments that "
                                "use it are not served", namespace)
        return views


class ABTesting:
    """The A/B state of one app: experiments, the impression buffer and the rec_id signer."""

    def __init__(self, store: Store, live: LiveVersions, settings: ServingSettings) -> None:
        self.store = store
        self.settings = settings
        self.impressions = Impressions(store.keys)
        self.experiments = Experiments(store, live, self.impressions,
                                       settings.live_refresh_seconds)
        self.window_seconds = settings.ab_attribution_hours * 3600
        self._signer: RecIdSigner | None = None

    async def signer(self) -> RecIdSigner:
        """The signer (its key is read from, or created in, Redis on first use)."""
        if self._signer is None:
            self._signer = await load_signer(self.store, self.settings)
        return self._signer

    async def flush(self) -> None:
        """Write the buffered impressions now."""
        await self.impressions.flush(self.store)

    async def flush_every(self, seconds: float) -> None:
        """Write the buffered impressions every ``seconds``, until cancelled (run by the app's
        lifespan, so an idle worker does not hold its last counts back)."""
        while True:
            await asyncio.sleep(seconds)
            try:
                await self.flush()
            except StoreUnavailable as exc:
                log.warning("impressions not written yet: %s", exc.message)

    async def close(self) -> None:
        """Write the buffered impressions at shutdown (logged, not raised, if Redis is down)."""
        try:
            await self.flush()
        except StoreUnavailable as exc:
            log.error("impressions not written at shutdown: %s", exc.message)

    async def experiment(self, name: str) -> ExperimentRecord | None:
        """The record of experiment ``name`` (running or stopped), read now."""
        (raw,) = await self.store.pipeline(
            lambda pipe: pipe.hget(self.store.keys.experiments(), name))
        return ExperimentRecord.from_json(raw) if raw is not None else None


async def experiment_report(
    store: Store, experiment: ExperimentRecord, metric: str, now: datetime,
    window_seconds: float,
) -> dict[str, Any]:
    """The report of ``experiment`` from the counts in Redis: ``build_report``'s JSON (per
    variant counts, rates with 95% Wilson intervals, uplift, p-value; the verdict on
    ``metric``) with the experiment record, the counts per day and the rejected ``rec_id``s."""
    counts, per_day, rejected = await read_counts(
        store, experiment.name, [v.name for v in experiment.variants],
        experiment.days(now, window_seconds),
    )
    report = build_report(experiment.name, counts, experiment.control, metric)
    return {**report.to_json(), "experiment": experiment.describe(), "days": per_day,
            "rejected_rec_ids": rejected}


async def get_ab(request: Request) -> ABTesting:
    return request.app.state.ab  # type: ignore[no-any-return]


ABDep = Annotated[ABTesting, Depends(get_ab)]
