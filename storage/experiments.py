"""A/B experiments in Redis: the one record, written by ``recsys ab start/stop`` and read by
serving (``docs/redis-layout.md``, "A/B experiments").

An experiment is one JSON record in the hash ``Keys.experiments``. Starting one writes the record
and adds its variants' namespaces to ``Keys.pinned`` in one transaction (both are control keys,
one hash slot); the namespaces' keys lose their expiry just before, so nothing an experiment
serves expires while it runs. Stopping marks the record stopped and gives the namespaces no other
running experiment uses, and that are not live, ``retain_seconds`` before they expire.

**Assignment**: the first 8 bytes of ``BLAKE2b("<experiment>:<user_id>")`` as an integer in
``[0, 2**64)``, against the cumulative weights of the variants: stable for a user, independent
between experiments.
"""

from __future__ import annotations

import bisect
import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import redis

from recommender.errors import ConfigError
from storage.connect import SyncClient
from storage.keys import Keys, name_version, published_field
from storage.writer import expire_keys, namespace_keys, persist_keys

RUNNING, STOPPED = "running", "stopped"
_SCALE = 1 << 64


def days_between(first: date, last: date) -> list[str]:
    """Every day from ``first`` to ``last`` inclusive, as ``YYYY-MM-DD``."""
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class VariantRecord:
    """One arm: a weight and the published version (``namespace``) it serves."""

    name: str
    weight: float
    ref: str
    model: str
    version: str
    namespace: str


@dataclass(frozen=True)
class ExperimentRecord:
    """What ``Keys.experiments`` holds for one experiment (``kinds`` empty = every kind)."""

    name: str
    status: str
    control: str
    kinds: tuple[str, ...]
    variants: tuple[VariantRecord, ...]
    started_at: datetime
    stopped_at: datetime | None = None
    bounds: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        total = sum(v.weight for v in self.variants)
        cumulative, bounds = 0.0, []
        for variant in self.variants[:-1]:
            cumulative += variant.weight
            bounds.append(int(cumulative / total * _SCALE))
        object.__setattr__(self, "bounds", tuple(bounds))

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    @property
    def namespaces(self) -> set[str]:
        return {variant.namespace for variant in self.variants}

    def covers(self, kind: str) -> bool:
        """Whether traffic of ``kind`` is split by this experiment."""
        return not self.kinds or kind in self.kinds

    def overlaps(self, kinds: Sequence[str]) -> bool:
        """Whether this experiment splits traffic of any of ``kinds`` (empty = every kind)."""
        return not self.kinds or not kinds or bool(set(self.kinds) & set(kinds))

    def assign(self, user_id: str) -> VariantRecord:
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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name, "status": self.status, "control": self.control,
            "kinds": list(self.kinds),
            "variants": [asdict(variant) for variant in self.variants],
            "started_at": self.started_at.isoformat(),
            "stopped_at": self.stopped_at.isoformat() if self.stopped_at else None,
        }

    @classmethod
    def from_json(cls, raw: bytes | str) -> ExperimentRecord:
        data = json.loads(raw)
        stopped = data.get("stopped_at")
        return cls(
            name=data["name"], status=data["status"], control=data["control"],
            kinds=tuple(data.get("kinds") or ()),
            variants=tuple(VariantRecord(**{**v, "weight": float(v["weight"]),
                                            "version": str(v["version"])})
                           for v in data["variants"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            stopped_at=datetime.fromisoformat(stopped) if stopped else None,
        )


def parse_records(raw: Sequence[bytes]) -> list[ExperimentRecord]:
    return [ExperimentRecord.from_json(value) for value in raw]


def find_published(client: SyncClient, keys: Keys, name: str, version: str) -> str | None:
    """The namespace ``name``/``version`` was last published to, if it is still in Redis."""
    candidates = []
    recorded = client.hget(keys.published(), published_field(name, version))
    if recorded:
        candidates.append(recorded.decode())
    live = client.hget(keys.live(), name)
    if live and name_version(live.decode()) == (name, version):
        candidates.append(live.decode())
    for namespace in candidates:
        if client.exists(keys.version(namespace).meta()):
            return namespace
    return None


def open_experiment(client: SyncClient, keys: Keys, record: ExperimentRecord) -> None:
    """Write ``record`` running and pin its namespaces (their keys lose their expiry first).

    Raises ``ConfigError`` when the name is taken, a running experiment splits one of its
    kinds, or a namespace has expired.
    """
    members = {namespace: namespace_keys(client, keys, namespace)
               for namespace in record.namespaces}
    for namespace, found in members.items():
        if not found:
            raise ConfigError(f"published version {namespace!r} is not in Redis anymore "
                              "(expired); start the experiment again")
    persist_keys(client, set().union(*members.values()))
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(keys.experiments(), keys.pinned())
                for other in parse_records(pipe.hvals(keys.experiments())):
                    if other.name == record.name:
                        raise ConfigError(
                            f"experiment {record.name!r} already exists ({other.status}, started "
                            f"{other.started_at:%Y-%m-%d %H:%M} UTC); choose another name")
                    if other.running and other.overlaps(record.kinds):
                        raise ConfigError(
                            f"experiment {other.name!r} already splits "
                            f"{'/'.join(other.kinds) or 'all'} traffic; stop it first "
                            f"(recsys ab stop {other.name}) or use another --kind")
                pipe.multi()
                pipe.hset(keys.experiments(), record.name, json.dumps(record.to_json()))
                pipe.sadd(keys.pinned(), *record.namespaces)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def stop_experiment(client: SyncClient, keys: Keys, name: str, *, retain_seconds: int,
                    now: datetime | None = None) -> ExperimentRecord:
    """Mark ``name`` stopped and release its namespaces (see the module docstring)."""
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(keys.experiments(), keys.pinned(), keys.live())
                records = {r.name: r for r in parse_records(pipe.hvals(keys.experiments()))}
                record = records.get(name)
                if record is None:
                    raise ConfigError(f"no experiment {name!r}; see recsys ab list")
                if not record.running:
                    raise ConfigError(f"experiment {name!r} is already stopped")
                needed = set().union(*(other.namespaces for other in records.values()
                                       if other.running and other.name != name))
                live = {value.decode() for value in pipe.hvals(keys.live())}
                released = record.namespaces - needed
                stopped = replace(record, status=STOPPED,
                                  stopped_at=(now or datetime.now(UTC)).astimezone(UTC))
                pipe.multi()
                pipe.hset(keys.experiments(), name, json.dumps(stopped.to_json()))
                if released:
                    pipe.srem(keys.pinned(), *released)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    for namespace in released - live:
        expire_keys(client, namespace_keys(client, keys, namespace), retain_seconds)
    return stopped


def list_experiments(client: SyncClient, keys: Keys) -> list[ExperimentRecord]:
    """Every experiment, running first, newest first."""
    records = parse_records(client.hvals(keys.experiments()))
    return sorted(records, key=lambda r: (not r.running, -r.started_at.timestamp()))
