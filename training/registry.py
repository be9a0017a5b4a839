"""Registered versions, their metrics, and the promotion gate that moves an alias.

A version may take an alias from its current holder only if its logged test metric is not worse
than the holder's by more than a tolerance, and both were evaluated on the same data fingerprint
and split. The first holder of an alias needs no gate; ``force`` skips it (a rollback to an older,
worse version is a forced promotion).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from recommender.errors import ConfigError
from training.aliases import CHAMPION, check_alias
from training.model_store import (
    FINGERPRINT_TAG,
    SPLIT_TAG,
    metrics_of,
    model_version,
    quoted,
    registered_model,
    registered_models,
)

DEFAULT_METRIC = "ndcg@10"
DEFAULT_TOLERANCE = 0.005


@dataclass(frozen=True)
class VersionInfo:
    """One registered version: aliases, test metrics and what it was evaluated on."""

    name: str
    version: str
    aliases: tuple[str, ...]
    run_id: str | None
    test: dict[str, float]
    fingerprint: str | None
    split: str | None
    created: datetime


@dataclass(frozen=True)
class Decision:
    """The outcome of a promotion: whether the alias moved, from which version, and why."""

    name: str
    alias: str
    version: str
    promoted: bool
    previous: str | None
    reason: str


def gate(
    candidate: VersionInfo,
    holder: VersionInfo | None,
    metric: str = DEFAULT_METRIC,
    tolerance: float = DEFAULT_TOLERANCE,
) -> tuple[bool, str]:
    """Whether ``candidate`` may take the alias from ``holder``, and the reason, in words."""
    if holder is None:
        return True, "first promotion: no version holds the alias yet"
    if holder.version == candidate.version:
        return True, f"version {candidate.version} already holds the alias"
    for info in (candidate, holder):
        if metric not in info.test:
            return False, f"version {info.version} has no logged test metric {metric!r}"
        if not info.fingerprint or not info.split:
            return False, f"version {info.version} has no data fingerprint or split recorded"
    if candidate.fingerprint != holder.fingerprint:
        return False, (
            f"versions {candidate.version} and {holder.version} were evaluated on different data "
            f"(fingerprints {candidate.fingerprint[:12]} vs {holder.fingerprint[:12]}); "
            "retrain both on the same events or use --force"
        )
    if candidate.split != holder.split:
        return False, (
            f"versions {candidate.version} and {holder.version} were evaluated on different splits "
            f"({candidate.split!r} vs {holder.split!r}); use --force to promote anyway"
        )
    new, old = candidate.test[metric], holder.test[metric]
    if new < old - tolerance:
        return False, (
            f"test {metric} {new:.4f} of version {candidate.version} is worse than {old:.4f} of "
            f"version {holder.version} by {old - new:.4f} (tolerance {tolerance:g}); "
            "use --force to promote anyway (e.g. a rollback)"
        )
    return True, (
        f"test {metric} {new:.4f} vs {old:.4f} of version {holder.version} "
        f"(within tolerance {tolerance:g} or better)"
    )


def version_info(name: str, version: str) -> VersionInfo:
    """The registered version ``name``/``version``; ``ConfigError`` if there is none."""
    client = MlflowClient()
    return _info(client, model_version(client, name, version))


def alias_holder(name: str, alias: str) -> VersionInfo | None:
    """The version ``alias`` points at, or ``None``."""
    client = MlflowClient()
    try:
        found = client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None
    return _info(client, found)


def list_versions(name: str | None = None) -> list[VersionInfo]:
    """Every version of registered model ``name`` (of every model if ``None``), by name, then
    newest first. ``ConfigError`` if ``name`` is not registered."""
    client = MlflowClient()
    # Version search results carry no aliases in every store; the registered models have them.
    if name is None:
        models = registered_models(client)
        found = list(client.search_model_versions())
    else:
        models = [registered_model(client, name)]
        found = list(client.search_model_versions(f"name = '{quoted(name)}'"))
    aliases: dict[tuple[str, str], list[str]] = {}
    for model in models:
        for alias, version in model.aliases.items():
            aliases.setdefault((model.name, str(version)), []).append(alias)
    infos = [_info(client, version, aliases.get((version.name, str(version.version)), []))
             for version in found]
    return sorted(infos, key=lambda info: (info.name, -int(info.version)))


def promote(
    name: str,
    version: str,
    alias: str = CHAMPION,
    *,
    force: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    metric: str = DEFAULT_METRIC,
) -> Decision:
    """Move ``alias`` of ``name`` to ``version`` if the gate allows it (or ``force``)."""
    check_alias(alias)
    if tolerance < 0:
        raise ConfigError(f"--tolerance must be >= 0, got {tolerance}")
    candidate = version_info(name, version)
    holder = alias_holder(name, alias)
    allowed, reason = gate(candidate, holder, metric, tolerance)
    if not allowed and force:
        allowed, reason = True, f"forced ({reason})"
    if allowed:
        MlflowClient().set_registered_model_alias(name, alias, candidate.version)
    return Decision(
        name=name,
        alias=alias,
        version=candidate.version,
        promoted=allowed,
        previous=holder.version if holder else None,
        reason=reason,
    )


def _info(
    client: MlflowClient, found: ModelVersion, aliases: list[str] | None = None
) -> VersionInfo:
    logged = client.get_run(found.run_id).data.metrics if found.run_id else {}
    tags = found.tags or {}
    return VersionInfo(
        name=found.name,
        version=str(found.version),
        aliases=tuple(sorted((found.aliases or []) if aliases is None else aliases)),
        run_id=found.run_id,
        test=metrics_of("test", logged),
        fingerprint=tags.get(FINGERPRINT_TAG),
        split=tags.get(SPLIT_TAG),
        created=datetime.fromtimestamp(found.creation_timestamp / 1000, tz=UTC),
    )
