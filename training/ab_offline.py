"""``recsys ab offline``: two registered model versions scored on the same held-out split.

A registered version was refit on ALL the events before it was logged, so its own factors have
seen the test part of any split of those events: scoring it directly would leak the answers.
Instead each version's model class and parameters (its stored ``TrainSpec``) are refit on the
train part of one shared split, with that version's own event weights and half-life, and both
are scored on the same test users against the same relevance. Per-user metric differences
``b - a`` then get a paired bootstrap 95% interval.

The split (protocol, ratio, seed, evaluated-user cap, k) is the one both versions were evaluated
on when they agree; where they differ the caller must choose (``--protocol`` ...), and the choice
holds for both. Test relevance counts an event type only when both versions give it a weight > 0,
so that both are judged on the same items.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from recommender.errors import ConfigError
from recommender.evaluation import (
    EvalData,
    coverage,
    paired_bootstrap,
    per_user_metrics,
    prepare,
    recommend_users,
)
from training.job_data import Step, no_progress, sample_users
from training.model_store import LoadedVersion
from training.spec import TrainSpec
from training.train import build_model

SPLIT_FIELDS = ("protocol", "ratio", "seed", "eval_users", "k")


@dataclass(frozen=True)
class VersionInfo:
    """Which version a side of the comparison is."""

    ref: str
    name: str | None
    version: str | None
    model: str
    params: dict[str, Any]


@dataclass(frozen=True)
class MetricDiff:
    """Means of one metric for ``a`` and ``b``, and the bootstrap interval of ``b - a``.

    ``low``, ``high`` and ``p_value`` are ``None`` for ``coverage@k``, a catalog-wide figure
    with no per-user values to resample.
    """

    metric: str
    a: float
    b: float
    diff: float
    low: float | None
    high: float | None
    p_value: float | None


@dataclass(frozen=True)
class OfflineComparison:
    """The result of ``compare_versions``."""

    a: VersionInfo
    b: VersionInfo
    split: dict[str, Any]
    users: int
    metrics: list[MetricDiff]

    def to_json(self) -> dict[str, Any]:
        return {
            "a": asdict(self.a),
            "b": asdict(self.b),
            "split": self.split,
            "users": self.users,
            "metrics": [asdict(metric) for metric in self.metrics],
        }


def shared_split(a: TrainSpec, b: TrainSpec, **chosen: Any) -> dict[str, Any]:
    """The split fields both versions use: ``chosen`` where not ``None``, else their common value.

    Raises ``ConfigError`` naming the fields where ``a`` and ``b`` differ and nothing was chosen.
    """
    unknown = set(chosen) - set(SPLIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown split fields {sorted(unknown)}; valid: {SPLIT_FIELDS}")
    split: dict[str, Any] = {}
    conflicts: dict[str, str] = {}
    for field in SPLIT_FIELDS:
        mine, theirs = getattr(a, field), getattr(b, field)
        if chosen.get(field) is not None:
            split[field] = chosen[field]
        elif mine == theirs:
            split[field] = mine
        else:
            conflicts[field] = f"{field} {mine!r} vs {theirs!r}"
    if conflicts:
        options = ", ".join(f"--{field.replace('_', '-')}" for field in conflicts)
        raise ConfigError(
            f"the two versions were evaluated on different splits ({'; '.join(conflicts.values())})"
            f"; choose one for both with {options}"
        )
    return split


def _judged_weights(a: TrainSpec, b: TrainSpec, event_types: set[str]) -> dict[str, float]:
    """Weight 1 for event types both versions weigh > 0, else 0: the test relevance."""
    return {t: float(a.weights.get(t, 0.0) > 0 and b.weights.get(t, 0.0) > 0) for t in event_types}


def _with_unknown_types(spec: TrainSpec, event_types: set[str]) -> dict[str, float]:
    """``spec``'s weights, event types it has no weight for counting nothing."""
    return {**dict.fromkeys(event_types, 0.0), **spec.weights}


def compare_versions(
    events: pd.DataFrame,
    a: LoadedVersion,
    b: LoadedVersion,
    *,
    refs: tuple[str, str] | None = None,
    n_resamples: int = 2000,
    step: Step = no_progress,
    **chosen: Any,
) -> OfflineComparison:
    """Refit versions ``a`` and ``b`` on one split of ``events`` and compare them per user.

    Parameters
    ----------
    events : DataFrame
        Canonical events (the same that trained the versions, or newer ones).
    a, b : LoadedVersion
        The baseline and the challenger (``training.model_store.load_version``).
    refs : tuple of str, optional
        How the caller named the versions (``products@champion``), for the report; default
        ``NAME/VERSION``.
    n_resamples : int
        Bootstrap resamples of each difference.
    step : callable
        Progress hook wrapping each long step.
    **chosen
        ``protocol``, ``ratio``, ``seed``, ``eval_users``, ``k`` overriding both versions' own
        (``None`` = keep theirs, which must then agree).
    """
    split = shared_split(a.config, b.config, **chosen)
    event_types = set(events["event"].unique())
    specs = [replace(v.config, **split) for v in (a, b)]
    cut = (split["protocol"], split["ratio"], split["seed"])
    with step(f"splitting the events ({specs[0].split_key})"):
        judged = prepare(events, *cut, weights=_judged_weights(*specs, event_types))
        data = [prepare(events, *cut, weights=_with_unknown_types(spec, event_types),
                        half_life_days=spec.half_life_days) for spec in specs]
    has_train = [np.diff(d.train.matrix.indptr) > 0 for d in data]
    users = np.flatnonzero(has_train[0] & has_train[1] & (np.diff(judged.test.indptr) > 0))
    if len(users) == 0:
        raise ConfigError("no test user has train events for both versions; try another split")
    common = sample_users(replace(judged, users=users), split["eval_users"], split["seed"])
    relevant = common.test[common.users]
    k = int(split["k"])
    per_user, coverages = [], []
    for version, spec, part in zip((a, b), specs, data, strict=True):
        with step(f"refitting {spec.model} of {_label(version)} on the train part and ranking"):
            recommended = _rank(version, spec, replace(part, users=common.users), k)
        per_user.append(per_user_metrics(recommended, relevant))
        coverages.append(coverage(recommended, part.train.shape[1]))
    with step(f"bootstrapping the differences ({n_resamples:,} resamples)"):
        metrics = [_diff(name, per_user[0][name], per_user[1][name], n_resamples, split["seed"])
                   for name in per_user[0]]
    metrics.append(MetricDiff(f"coverage@{k}", coverages[0], coverages[1],
                              coverages[1] - coverages[0], None, None, None))
    return OfflineComparison(
        a=_info(refs[0] if refs else _label(a), a), b=_info(refs[1] if refs else _label(b), b),
        split={**split, "test_users": len(common.users)},
        users=len(common.users), metrics=metrics,
    )


def _rank(version: LoadedVersion, spec: TrainSpec, data: EvalData, k: int) -> np.ndarray:
    """Top-``k`` of ``spec``'s model class and parameters, fitted on ``data.train``."""
    model = build_model(spec, data.train.items, version.catalog)
    model.fit(data.train.matrix)
    return recommend_users(model, data, k)


def _diff(name: str, a: np.ndarray, b: np.ndarray, n_resamples: int, seed: int) -> MetricDiff:
    interval = paired_bootstrap(a, b, n_resamples=n_resamples, seed=seed)
    return MetricDiff(name, float(a.mean()), float(b.mean()), interval.mean_diff,
                      interval.low, interval.high, interval.p_value)


def _label(version: LoadedVersion) -> str:
    return f"{version.name}/{version.version}" if version.name else str(version.run_id)


def _info(ref: str, version: LoadedVersion) -> VersionInfo:
    return VersionInfo(ref=ref, name=version.name, version=version.version,
                       model=version.config.model, params=dict(version.config.params))
