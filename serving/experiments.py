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
import bisect
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import redis.asyncio as aredis
from fastapi import Depends, Request

from recommender.abtest import build_report
from recommender.keys import Keys
from serving.attribution import Impressions, days_between, read_counts
from serving.errors import NoLiveModel, StoreUnavailable
from serving.live import LiveVersions
from serving.rec_ids import RecIdSigner, load_signer
from serving.settings import ServingSettings
from serving.store import Store, _unavailable_on_failure
from serving.version import VersionView

RUNNING = "running"
FLUSH_SECONDS = 1.0
"""How often a serving worker writes its buffered impressions, with or without traffic."""
_SCALE = 1 << 64
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Variant:
    """One arm of an experiment: a weight and the published version it serves."""

    name: str
    weight: float
    model: str
    version: str
    namespace: str


@dataclass(frozen=True)
class Experiment:
    """An experiment record, as ``training.experiments`` writes it."""

    name: str
    status: str
    control: str
    kinds: frozenset[str]
    variants: tuple[Variant, ...]
    started_at: datetime
    stopped_at: datetime | None
    bounds: tuple[int, ...]

    @classmethod
    def from_json(cls, raw: bytes | str) -> Experiment:
        data = json.loads(raw)
        variants = tuple(
            Variant(v["name"], float(v["weight"]), v["model"], str(v["version"]), v["namespace"])
            for v in data["variants"]
        )
        total = sum(v.weight for v in variants)
        cumulative, bounds = 0.0, []
        for variant in variants[:-1]:
            cumulative += variant.weight
            bounds.append(int(cumulative / total * _SCALE))
        stopped = data.get("stopped_at")
        return cls(
            name=data["name"],
            status=data["status"],
            control=data["control"],
            kinds=frozenset(data.get("kinds") or ()),
            variants=variants,
            started_at=datetime.fromisoformat(data["started_at"]),
            stopped_at=datetime.fromisoformat(stopped) if stopped else None,
            bounds=tuple(bounds),
        )

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def covers(self, kind: str) -> bool:
        """Whether traffic of ``kind`` is split by this experiment."""
        return not self.kinds or kind in self.kinds

    def assign(self, user_id: str) -> Variant:
        """The variant of ``user_id`` (stable; see the module docstring)."""
        digest = hashlib.blake2b(f"{self.name}:{user_id}".encode(), digest_size=8).digest()
        return self.variants[bisect.bisect_right(self.bounds, int.from_bytes(digest, "big"))]

    def days(self, now: datetime, window_seconds: float) -> list[str]:
        """The UTC days that can hold its counts: from the start to today, or to the end of
        the attribution window after it stopped."""
        last = now if self.stopped_at is None else min(
            now, self.stopped_at + timedelta(seconds=window_seconds))
        return days_between(self.started_at.astimezone(UTC).date(), last.astimezone(UTC).date())

    def describe(self) -> dict[str, Any]:
        """The record for a report: status, kinds, times and variants."""
        return {
            "name": self.name, "status": self.status, "control": self.control,
            "kinds": sorted(self.kinds), "started_at": self.started_at.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
            "variants": [{"name": v.name, "weight": v.weight, "model": v.model,
                          "version": v.version} for v in self.variants],
        }


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
        self.running: tuple[Experiment, ...] = ()
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

    async def current(self) -> tuple[Experiment, ...]:
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
        async with _unavailable_on_failure():
            (raw,) = await self.impressions.flush(self.store.client, lambda p: p.hgetall(key))
        if raw != self._raw:
            running = tuple(e for e in map(Experiment.from_json, raw.values()) if e.running)
            self._views = await self._load_views(running)
            # An experiment with a variant whose version is gone is not served at all, so
            # that its arms stay comparable; its users get the live version.
            self.running = tuple(e for e in running
                                 if all(v.namespace in self._views for v in e.variants))
            self._raw = raw
        self._checked = time.monotonic()

    async def _load_views(self, running: tuple[Experiment, ...]) -> dict[str, VersionView]:
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
        async with _unavailable_on_failure():
            await self.impressions.flush(self.store.client)

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

    async def experiment(self, name: str) -> Experiment | None:
        """The record of experiment ``name`` (running or stopped), read now."""
        async with _unavailable_on_failure():
            raw = await self.store.client.hget(self.store.keys.experiments(), name)
        return Experiment.from_json(raw) if raw is not None else None


async def experiment_report(
    client: aredis.Redis, keys: Keys, experiment: Experiment, metric: str, now: datetime,
    window_seconds: float,
) -> dict[str, Any]:
    """The report of ``experiment`` from the counts in Redis: ``build_report``'s JSON (per
    variant counts, rates with 95% Wilson intervals, uplift, p-value; the verdict on
    ``metric``) with the experiment record, the counts per day and the rejected ``rec_id``s."""
    counts, per_day, rejected = await read_counts(
        client, keys, experiment.name, [v.name for v in experiment.variants],
        experiment.days(now, window_seconds),
    )
    report = build_report(experiment.name, counts, experiment.control, metric)
    return {**report.to_json(), "experiment": experiment.describe(), "days": per_day,
            "rejected_rec_ids": rejected}


async def get_ab(request: Request) -> ABTesting:
    return request.app.state.ab  # type: ignore[no-any-return]


ABDep = Annotated[ABTesting, Depends(get_ab)]
