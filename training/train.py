"""``recsys train``: evaluate on a held-out split, refit on all data, log and register, in one run.

Call ``training.tracking.configure_tracking()`` first (the CLI does) to use the project's store.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from recommender.errors import ConfigError, UnknownModelError
from recommender.evaluation import EvalData, evaluate_model
from recommender.matrix import IdMap, Interactions
from recommender.models import PopularityRecommender, Recommender, make_model
from training.bundle import ModelBundle, catalog_subset
from training.fingerprint import Fingerprint, fingerprint
from training.job_data import JobData, Step, full_matrix, no_progress, prepare_job
from training.model_store import log_bundle, metric_key, version_tags
from training.registry import Decision, promote
from training.spec import TrainSpec
from training.tracking import ensure_experiment, start_job_run


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


ModelBuilder = Callable[[TrainSpec, IdMap, "pd.DataFrame | None"], Recommender]
"""Makes the unfitted model of a spec (``build_model``; ``training.spark`` fits ALS on Spark)."""


def build_model(spec: TrainSpec, items: IdMap, catalog: pd.DataFrame | None) -> Recommender:
    """An unfitted model of ``spec``; bad parameters become a ``ConfigError``.

    A popularity model gets the item categories of ``catalog`` (for ``per_category``).
    """
    try:
        model = make_model(spec.model, spec.params)
    except UnknownModelError:
        raise
    except ValueError as exc:
        raise ConfigError(f"--param: {exc}") from None
    if isinstance(model, PopularityRecommender) and catalog is not None and len(catalog):
        categories = pd.Series(catalog["category"].to_numpy(), index=catalog["item_id"].to_numpy())
        aligned = categories[~categories.index.duplicated()].reindex(items.ids)
        codes, _ = pd.factorize(aligned)
        model.set_item_categories(codes.astype(np.int64))
    return model


def evaluate_spec(
    spec: TrainSpec, data: EvalData, catalog: pd.DataFrame | None = None,
    build: ModelBuilder = build_model,
) -> tuple[Recommender, dict[str, float]]:
    """Fit a model of ``spec`` on ``data.train`` and score it @k on ``data.test``."""
    model = build(spec, data.train.items, catalog)
    return model, evaluate_model(model, data, k=spec.k, fit=True)


def fit_bundle(
    events: pd.DataFrame | None,
    spec: TrainSpec,
    catalog: pd.DataFrame | None = None,
    data_fingerprint: Fingerprint | None = None,
    interactions: Interactions | None = None,
    build: ModelBuilder = build_model,
) -> ModelBundle:
    """Fit a model of ``spec`` on all of ``events``: the model that gets logged and served.

    ``interactions`` and ``data_fingerprint``, if given, are ``full_matrix(events, spec)`` and
    ``fingerprint(events)`` made beforehand; ``events`` may then be ``None`` (prepared on Spark).
    """
    if interactions is None or data_fingerprint is None:
        if events is None:
            raise ValueError("fit_bundle needs the events, or their matrix and fingerprint")
        interactions = interactions or full_matrix(events, spec)
        data_fingerprint = data_fingerprint or fingerprint(events)
    model = build(spec, interactions.items, catalog)
    model.fit(interactions.matrix)
    return ModelBundle(
        model=model,
        interactions=interactions,
        catalog=catalog_subset(catalog),
        spec=spec.with_params(model.params),
        fingerprint=data_fingerprint,
    )


def log_fingerprint(data_fingerprint: Fingerprint) -> None:
    """The fingerprint as ``data.*`` params of the active run, and as ``fingerprint.json``."""
    mlflow.log_params({f"data.{key}": value for key, value in data_fingerprint.to_dict().items()})
    mlflow.log_dict(data_fingerprint.to_dict(), "fingerprint.json")


def log_metrics(part: str, metrics: dict[str, float]) -> None:
    mlflow.log_metrics({metric_key(part, name): value for name, value in metrics.items()})


def refit_and_log(
    events: pd.DataFrame | None,
    spec: TrainSpec,
    catalog: pd.DataFrame | None,
    data_fingerprint: Fingerprint,
    register: str | None,
    step: Step = no_progress,
    interactions: Interactions | None = None,
    build: ModelBuilder = build_model,
) -> str | None:
    """Refit ``spec`` on all events and log it to the active run; returns the registered version.

    ``interactions``, if given, is ``full_matrix(events, spec)`` built beforehand (``events``
    may then be ``None``).
    """
    with step(f"refitting {spec.model} on all {data_fingerprint.rows:,} events"):
        bundle = fit_bundle(events, spec, catalog, data_fingerprint, interactions, build)
    target = f" and registering it as {register!r}" if register else ""
    with step(f"logging the model{target}"):
        return log_bundle(bundle, register)


def train(
    events: pd.DataFrame | JobData,
    spec: TrainSpec,
    *,
    experiment: str,
    catalog: pd.DataFrame | None = None,
    register: str | None = None,
    alias: str | None = None,
    run_name: str | None = None,
    step: Step = no_progress,
    build: ModelBuilder = build_model,
) -> TrainResult:
    """Evaluate ``spec`` on a held-out split, refit on all events, log it all in one MLflow run.

    Parameters
    ----------
    events : DataFrame or JobData
        Canonical events, or ``prepare_job(events, spec)`` of them (the CLI prepares them while
        MLflow is being imported).
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
    build : callable
        Makes the unfitted model (default ``build_model``; ``training.spark.train`` passes one
        that fits ALS on Spark).
    """
    if alias and not register:
        raise ConfigError("--alias needs --register NAME (an alias points at a registered version)")
    job = events if isinstance(events, JobData) else prepare_job(events, spec, step, catalog)
    if job.spec != spec:
        raise ValueError("the job data was prepared for another spec")
    started = time.perf_counter() - job.seconds
    with step(f"opening experiment {experiment!r} in the tracking store"):
        experiment_id = ensure_experiment(experiment)
    with start_job_run("train", spec.model, experiment_id, run_name) as run:
        mlflow.set_tags({**version_tags(spec, job.fingerprint), "recsys.job": "train"})
        log_fingerprint(job.fingerprint)
        mlflow.log_params({f"split.{key}": value for key, value in job.split.summary.items()})
        with step(f"fitting {spec.model} on the train split and scoring @{spec.k}"):
            model, test = evaluate_spec(spec, job.split, catalog, build)
        spec = spec.with_params(model.params)
        mlflow.log_params(spec.mlflow_params())
        log_metrics("test", test)
        version = refit_and_log(
            job.events, spec, catalog, job.fingerprint, register, step, job.everything, build
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
        fingerprint=job.fingerprint,
        promotion=decision,
    )
