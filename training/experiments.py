"""A/B experiments between model versions: start, stop and list them in Redis (``recsys ab``).

An experiment is one JSON record in the hash ``{prefix}experiments`` (``docs/redis-layout.md``);
serving re-reads it within a second, so starting or stopping one needs no restart.

``start_experiment`` resolves each variant's ``NAME@ALIAS`` (or ``NAME/VERSION``) to a registered
version in MLflow, finds the namespace that version was published to (``{prefix}published``, or
the live pointer) and, when it has none, publishes it first without making it live. In one
transaction it then writes the record, adds the variants' namespaces to ``{prefix}pinned`` and
removes their expiry: a later publish that replaces the live version leaves a pinned namespace
alone, so nothing an experiment serves expires while it runs. ``stop_experiment`` marks the
record stopped (its counts stay for the report) and gives the namespaces no other running
experiment uses, and that are not live, the usual ``retain_seconds`` before they expire.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

import redis

from recommender.config import RecsysConfig
from recommender.errors import ConfigError
from recommender.keys import Keys, published_field
from training.publish import RETAIN_SECONDS

RUNNING, STOPPED = "running", "stopped"
KINDS = ("product", "content")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
_VARIANT = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
_SPEC = re.compile(r"^(?P<name>[^=]+)=(?P<ref>.+?)(?::(?P<weight>[0-9]*\.?[0-9]+))?$")

Resolver = Callable[[str], tuple[str, str]]
"""``ref -> (model name, version)``."""
Publisher = Callable[[str, str], str]
"""``(model name, version) -> namespace``: publishes a version without making it live."""


@dataclass(frozen=True)
class VariantSpec:
    """A variant as the command line gives it: ``treatment=products@challenger:50``."""

    name: str
    ref: str
    weight: float = 1.0

    @classmethod
    def parse(cls, text: str) -> VariantSpec:
        match = _SPEC.match(text.strip())
        if match is None:
            raise ConfigError(f"--variant {text!r}: expected NAME=MODEL@ALIAS:WEIGHT, e.g. "
                              "treatment=products@challenger:50")
        weight = float(match["weight"]) if match["weight"] else 1.0
        return cls(match["name"].strip(), match["ref"].strip(), weight)


@dataclass(frozen=True)
class VariantRecord:
    """A variant bound to a published version."""

    name: str
    weight: float
    ref: str
    model: str
    version: str
    namespace: str


@dataclass(frozen=True)
class ExperimentRecord:
    """What ``{prefix}experiments`` holds for one experiment (``kinds`` empty = every kind)."""

    name: str
    status: str
    control: str
    kinds: tuple[str, ...]
    variants: tuple[VariantRecord, ...]
    started_at: datetime
    stopped_at: datetime | None = None

    @property
    def namespaces(self) -> set[str]:
        return {variant.namespace for variant in self.variants}

    def overlaps(self, kinds: Sequence[str]) -> bool:
        """Whether this experiment splits traffic of any of ``kinds`` (empty = every kind)."""
        return not self.kinds or not kinds or bool(set(self.kinds) & set(kinds))

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
            variants=tuple(VariantRecord(**variant) for variant in data["variants"]),
            started_at=datetime.fromisoformat(data["started_at"]),
            stopped_at=datetime.fromisoformat(stopped) if stopped else None,
        )


def resolve_ref(ref: str) -> tuple[str, str]:
    """``NAME@ALIAS`` or ``NAME/VERSION`` -> the registered ``(name, version)`` (MLflow)."""
    from training.model_store import model_uri
    from training.registry import alias_holder, version_info

    target = model_uri(ref).removeprefix("models:/")
    name, at, alias = target.partition("@")
    if at:
        holder = alias_holder(name, alias)
        if holder is None:
            raise ConfigError(
                f"{ref}: model {name!r} has no version with alias {alias!r}; give one the alias "
                f"with `recsys promote {name} --version V --alias {alias}`"
            )
        return holder.name, holder.version
    name, _, number = target.rpartition("/")
    found = version_info(name, number)
    return found.name, found.version


def registry_publisher(client: redis.Redis, config: RecsysConfig) -> Publisher:
    """A ``Publisher`` that loads the version from MLflow and publishes it, not live."""

    def publish(name: str, version: str) -> str:
        from training.model_store import load_version
        from training.publish import publish_version

        loaded = load_version(f"{name}/{version}")
        stats = publish_version(client, name, version, loaded.model, loaded.interactions,
                                loaded.catalog, config, top_n=config.serving.top_n,
                                make_live=False)
        return stats.namespace

    return publish


def find_published(client: redis.Redis, keys: Keys, name: str, version: str) -> str | None:
    """The namespace ``name``/``version`` was last published to, if it is still in Redis."""
    candidates = []
    recorded = client.hget(keys.published(), published_field(name, version))
    if recorded:
        candidates.append(recorded.decode())
    live = client.hget(keys.live(), name)
    if live and live.decode().rsplit(":", 2)[:2] == [name, version]:
        candidates.append(live.decode())
    for namespace in candidates:
        if client.exists(keys.version(namespace).meta()):
            return namespace
    return None


def start_experiment(
    client: redis.Redis,
    keys: Keys,
    name: str,
    variants: Sequence[VariantSpec],
    *,
    publish: Publisher,
    kinds: Sequence[str] = (),
    control: str | None = None,
    resolve: Resolver = resolve_ref,
    now: datetime | None = None,
) -> ExperimentRecord:
    """Start experiment ``name`` (see the module docstring); returns its record.

    ``control`` defaults to the variant named ``control``, else the first one. ``publish`` is
    called for each variant whose version has no namespace in Redis yet.
    """
    _check(name, variants, kinds)
    names = [variant.name for variant in variants]
    control = control or ("control" if "control" in names else names[0])
    if control not in names:
        raise ConfigError(f"--control {control!r} is not one of the variants {names}")
    bound = []
    for spec in variants:
        model, version = resolve(spec.ref)
        namespace = find_published(client, keys, model, version) or publish(model, version)
        bound.append(VariantRecord(spec.name, spec.weight, spec.ref, model, version, namespace))
    record = ExperimentRecord(name, RUNNING, control, tuple(kinds), tuple(bound),
                              (now or datetime.now(UTC)).astimezone(UTC))
    open_experiment(client, keys, record)
    return record


def _check(name: str, variants: Sequence[VariantSpec], kinds: Sequence[str]) -> None:
    if not _NAME.match(name):
        raise ConfigError(f"experiment name {name!r}: use 1-64 lowercase letters, digits, '.', "
                          "'-' or '_', starting with a letter or digit")
    if len(variants) < 2:
        raise ConfigError("an experiment needs at least two --variant")
    names = [variant.name for variant in variants]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names must differ, got {names}")
    for variant in variants:
        if not _VARIANT.match(variant.name):
            raise ConfigError(f"variant name {variant.name!r}: use 1-32 lowercase letters, "
                              "digits, '-' or '_', starting with a letter")
        if variant.weight <= 0:
            raise ConfigError(f"variant {variant.name!r}: weight must be > 0")
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ConfigError(f"--kind {unknown}: expected {' or '.join(KINDS)}")


def open_experiment(client: redis.Redis, keys: Keys, record: ExperimentRecord) -> None:
    """Write ``record`` running, pin its namespaces and remove their expiry, atomically."""
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(keys.experiments(), keys.pinned())
                for other in _records(pipe, keys):
                    if other.name == record.name:
                        raise ConfigError(
                            f"experiment {record.name!r} already exists ({other.status}, started "
                            f"{other.started_at:%Y-%m-%d %H:%M} UTC); choose another name")
                    if other.status == RUNNING and other.overlaps(record.kinds):
                        raise ConfigError(
                            f"experiment {other.name!r} already splits "
                            f"{'/'.join(other.kinds) or 'all'} traffic; stop it first "
                            f"(recsys ab stop {other.name}) or use another --kind")
                members = {}
                for namespace in record.namespaces:
                    members[namespace] = pipe.smembers(keys.version(namespace).members())
                    if not members[namespace]:
                        raise ConfigError(f"published version {namespace!r} is not in Redis "
                                          "anymore (expired); start the experiment again")
                pipe.multi()
                pipe.hset(keys.experiments(), record.name, json.dumps(record.to_json()))
                pipe.sadd(keys.pinned(), *record.namespaces)
                for key in set().union(*members.values()):
                    pipe.persist(key)
                pipe.execute()
                return
            except redis.WatchError:
                continue


def stop_experiment(
    client: redis.Redis, keys: Keys, name: str, *, retain_seconds: int = RETAIN_SECONDS,
    now: datetime | None = None,
) -> ExperimentRecord:
    """Mark ``name`` stopped and release its namespaces (see the module docstring)."""
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(keys.experiments(), keys.pinned(), keys.live())
                records = {record.name: record for record in _records(pipe, keys)}
                record = records.get(name)
                if record is None:
                    raise ConfigError(f"no experiment {name!r}; see recsys ab list")
                if record.status != RUNNING:
                    raise ConfigError(f"experiment {name!r} is already stopped")
                needed = set().union(*(other.namespaces for other in records.values()
                                       if other.status == RUNNING and other.name != name))
                live = {value.decode() for value in pipe.hvals(keys.live())}
                released = record.namespaces - needed
                expiring = set().union(set(), *(
                    pipe.smembers(keys.version(namespace).members())
                    for namespace in released - live))
                stopped = replace(record, status=STOPPED,
                                  stopped_at=(now or datetime.now(UTC)).astimezone(UTC))
                pipe.multi()
                pipe.hset(keys.experiments(), name, json.dumps(stopped.to_json()))
                if released:
                    pipe.srem(keys.pinned(), *released)
                for key in expiring:
                    pipe.expire(key, retain_seconds)
                pipe.execute()
                return stopped
            except redis.WatchError:
                continue


def list_experiments(client: redis.Redis, keys: Keys) -> list[ExperimentRecord]:
    """Every experiment, running first, newest first."""
    records = _records(client, keys)
    return sorted(records, key=lambda r: (r.status != RUNNING, -r.started_at.timestamp()))


def _records(client: Any, keys: Keys) -> list[ExperimentRecord]:
    return [ExperimentRecord.from_json(raw) for raw in client.hvals(keys.experiments())]
