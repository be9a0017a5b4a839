"""A/B experiments between model versions: starting one from registered versions (``recsys ab``).

``start_experiment`` resolves each variant's ``NAME@ALIAS`` (or ``NAME/VERSION``) to a registered
version in MLflow, finds the namespace that version was published to (``Keys.published``, or
the live pointer) and, when it has none, publishes it first without making it live; then
``storage.experiments.open_experiment`` writes the record and pins the namespaces. Stopping and
listing are ``storage.experiments``'s (``stop_experiment``, ``list_experiments``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from recommender.config import RecsysConfig
from recommender.data.catalog import KINDS
from recommender.errors import ConfigError
from storage.connect import SyncClient
from storage.experiments import (
    RUNNING,
    ExperimentRecord,
    VariantRecord,
    find_published,
    open_experiment,
)
from storage.keys import Keys

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


def registry_publisher(client: SyncClient, config: RecsysConfig, keys: Keys) -> Publisher:
    """A ``Publisher`` that loads the version from MLflow and publishes it, not live."""

    def publish(name: str, version: str) -> str:
        from training.model_store import load_version
        from training.publish import publish_version

        loaded = load_version(f"{name}/{version}")
        stats = publish_version(client, name, version, loaded.model, loaded.interactions,
                                loaded.catalog, config, top_n=config.serving.top_n,
                                make_live=False, keys=keys)
        return stats.namespace

    return publish


def start_experiment(
    client: SyncClient,
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
