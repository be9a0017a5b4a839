"""``recsys train``: evaluate on a held-out split, refit on all data, log and register, in one run.

Call ``training.tracking.configure_tracking()`` first (the CLI does) to use the project's store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from recommender.errors import ConfigError
from recommender.evaluation import EvalData, evaluate_model, prepare
from recommender.matrix import EncodedEvents, IdMap, Interactions, build_interactions
from recommender.models import PopularityRecommender, Recommender, make_model
from training.bundle import ModelBundle, catalog_subset
from training.fingerprint import Fingerprint, fingerprint
from training.model_store import log_bundle, metric_key, version_tags
from training.registry import Decision, promote
from training.spec import TrainSpec
from training.tracking import ensure_experiment

Step = Callable[[str], AbstractContextManager[object]]
"""Progress hook: ``with step("fitting als"):`` wraps each long step."""


def no_progress(message: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced. ``version`` is ``None`` unless the model was registered;
    ``promotion`` is the alias decision when an alias was asked for."""

    run_id: str
    version: str | None
    params: dict[str, Any]
    test: dict[str, float]
    seconds: float
    fingerprint: Fingerprint
    promotion: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape: run_id, version, params, test, seconds."""
        return {
            "run_id": self.run_id,
            "version": self.version,
            "params": self.params,
            "test": self.test,
            "seconds": round(self.seconds, 3),
        }


def sample_users(data: EvalData, limit: int, seed: int) -> EvalData:
    """``data`` evaluated over at most ``limit`` of its users (seeded, sorted; 0 = all)."""
    if limit <= 0 or len(data.users) <= limit:
        return data
    users = np.sort(np.random.default_rng(seed).choice(data.users, limit, replace=False))
    return replace(data, users=users, summary={**data.summary, "eval_users": limit,
                                               "eval_users_before_sampling": len(data.users)})


def prepare_split(events: pd.DataFrame | EncodedEvents, spec: TrainSpec) -> EvalData:
    """The train matrix and test relevance of ``spec``'s split, its test users capped."""
    data = prepare(events, spec.protocol, spec.ratio, spec.seed, spec.weights, spec.half_life_days)
    return sample_users(data, spec.eval_users, spec.seed)


def build_model(spec: TrainSpec, items: IdMap, catalog: pd.DataFrame | None) -> Recommender:
    """An unfitted model of ``spec``; bad parameters become a ``ConfigError``.

    A popularity model gets the item categories of ``catalog`` (for ``per_category``).
    """
    try:
        model = make_model(spec.model, spec.params)
    except ValueError as exc:
        raise ConfigError(f"--param: {exc}") from None
    if isinstance(model, PopularityRecommender) and catalog is not None and len(catalog):
        categories = pd.Series(catalog["category"].to_numpy(), index=catalog["item_id"].to_numpy())
        aligned = categories[~categories.index.duplicated()].reindex(items.ids)
        codes, _ = pd.factorize(aligned)
        model.set_item_categories(codes.astype(np.int64))
    return model


def evaluate_spec(
    spec: TrainSpec, data: EvalData, catalog: pd.DataFrame | None = None
) -> tuple[Recommender, dict[str, float]]:
    """Fit a model of ``spec`` on ``data.train`` and score it @k on ``data.test``."""
    model = build_model(spec, data.train.items, catalog)
    return model, evaluate_model(model, data, k=spec.k, fit=True)


def fit_bundle(
    events: pd.DataFrame,
    spec: TrainSpec,
    catalog: pd.DataFrame | None = None,
    data_fingerprint: Fingerprint | None = None,
    interactions: Interactions | None = None,
) -> ModelBundle:
    """Fit a model of ``spec`` on all of ``events``: the model that gets logged and served.

    ``interactions``, if given, is ``full_matrix(events, spec)`` built beforehand.
    """
    if interactions is None:
        interactions = full_matrix(events, spec)
    model = build_model(spec, interactions.items, catalog)
    model.fit(interactions.matrix)
    return ModelBundle(
        model=model,
        interactions=interactions,
        catalog=catalog_subset(catalog),
        spec=spec.with_params(model.params),
        fingerprint=data_fingerprint or fingerprint(events),
    )


def full_matrix(events: pd.DataFrame | EncodedEvents, spec: TrainSpec) -> Interactions:
    """The confidence matrix of all ``events`` under ``spec``'s weights and half-life."""
    if isinstance(events, EncodedEvents):
        return events.interactions(spec.weights, spec.half_life_days)
    return build_interactions(events, spec.weights, spec.half_life_days)


def log_fingerprint(data_fingerprint: Fingerprint) -> None:
    """The fingerprint as ``data.*`` params of the active run, and as ``fingerprint.json``."""
    mlflow.log_params({f"data.{key}": value for key, value in data_fingerprint.to_dict().items()})
    mlflow.log_dict(data_fingerprint.to_dict(), "fingerprint.json")


def log_metrics(part: str, metrics: dict[str, float]) -> None:
    mlflow.log_metrics({metric_key(part, name): value for name, value in metrics.items()})


def refit_and_log(
    events: pd.DataFrame,
    spec: TrainSpec,
    catalog: pd.DataFrame | None,
    data_fingerprint: Fingerprint,
    register: str | None,
    step: Step = no_progress,
    interactions: Interactions | None = None,
) -> str | None:
    """Refit ``spec`` on all events and log it to the active run; returns the registered version.

    ``interactions``, if given, is ``full_matrix(events, spec)`` built beforehand.
    """
    with step(f"refitting {spec.model} on all {len(events):,} events"):
        bundle = fit_bundle(events, spec, catalog, data_fingerprint, interactions)
    target = f" and registering it as {register!r}" if register else ""
    with step(f"logging the model{target}"):
        return log_bundle(bundle, register)


def train(
    events: pd.DataFrame,
    spec: TrainSpec,
    *,
    experiment: str,
    catalog: pd.DataFrame | None = None,
    register: str | None = None,
    alias: str | None = None,
    run_name: str | None = None,
    step: Step = no_progress,
) -> TrainResult:
    """Evaluate ``spec`` on a held-out split, refit on all events, log it all in one MLflow run.

    Parameters
    ----------
    events : DataFrame
        Canonical events.
    spec : TrainSpec
        Model, parameters, event weights, half-life and split.
    experiment : str
        MLflow experiment name (created if missing).
    catalog : DataFrame, optional
        Canonical catalog; stored with the model for kinds, categories and availability.
    register : str, optional
        Registered model name; the logged model becomes its next version.
    alias : str, optional
        Alias to move to the new version through the promotion gate (needs ``register``).
    step : callable
        Progress hook wrapping each long step.
    """
    if alias and not register:
        raise ConfigError("--alias needs --register NAME (an alias points at a registered version)")
    started = time.perf_counter()
    with step("encoding the events"):
        encoded = EncodedEvents.from_frame(events)
    # The fingerprint and the full matrix are made beside the split, on the other core; the
    # tracking store opens on a third thread (on a first run it creates its tables).
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="recsys-train") as pool:
        opened = pool.submit(ensure_experiment, experiment)
        fingerprinted = pool.submit(
            lambda: (fingerprint(events, encoded), full_matrix(encoded, spec))
        )
        with step(f"splitting ({spec.split_key}) and building the train matrix"):
            data = prepare_split(encoded, spec)
        with step("fingerprinting the events and building the full matrix"):
            data_fingerprint, interactions = fingerprinted.result()
        with step(f"opening experiment {experiment!r} in the tracking store"):
            experiment_id = opened.result()
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.set_tags({**version_tags(spec, data_fingerprint), "recsys.job": "train"})
        log_fingerprint(data_fingerprint)
        mlflow.log_params({f"split.{key}": value for key, value in data.summary.items()})
        with step(f"fitting {spec.model} on the train split and scoring @{spec.k}"):
            model, test = evaluate_spec(spec, data, catalog)
        spec = spec.with_params(model.params)
        mlflow.log_params(spec.mlflow_params())
        log_metrics("test", test)
        version = refit_and_log(
            events, spec, catalog, data_fingerprint, register, step, interactions
        )
        seconds = time.perf_counter() - started
        mlflow.log_metric("seconds", seconds)
    decision = promote(register, version, alias) if alias and register and version else None
    return TrainResult(
        run_id=run.info.run_id,
        version=version,
        params=dict(model.params),
        test=test,
        seconds=seconds,
        fingerprint=data_fingerprint,
        promotion=decision,
    )
