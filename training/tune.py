"""``recsys tune``: hyper-parameter search with Optuna on a validation split of the train part.

The events are split once (``spec``'s protocol, ratio and seed) into train and test. Trials see
only the train part, split again the same way into fit and validation. The first trial tries the
current parameters; the best trial replaces them only if it is better by more than one standard
error on validation (``choose``). The chosen parameters are then fitted on the train part and
scored once on the test part, and finally refitted on all events, logged and registered like
``train`` does. Each trial is a nested MLflow run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import mlflow
import numpy as np
import optuna
import pandas as pd
from optuna.trial import FrozenTrial

from recommender.errors import ConfigError
from recommender.evaluation import (
    EvalData,
    per_user_metrics,
    recommend_users,
    split_events,
    summarize,
)
from recommender.evaluation.metrics import PER_USER_METRICS
from recommender.models import DEFAULT_PARAMS
from training.fingerprint import fingerprint
from training.job_data import Step, no_progress, prepare_split
from training.model_store import version_tags
from training.registry import Decision, promote
from training.spec import TrainSpec
from training.tracking import ensure_experiment, start_job_run
from training.train import (
    build_model,
    evaluate_spec,
    log_fingerprint,
    log_metrics,
    refit_and_log,
)

Space = Callable[[optuna.Trial], dict[str, Any]]
SE_RULE = 1.0
"""Standard errors by which the best trial must beat the current parameters to replace them."""


def _als(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "factors": trial.suggest_int("factors", 16, 256, log=True),
        "regularization": trial.suggest_float("regularization", 1e-3, 50.0, log=True),
        "alpha": trial.suggest_float("alpha", 0.1, 50.0, log=True),
        "iterations": trial.suggest_int("iterations", 5, 30),
    }


def _bpr(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "factors": trial.suggest_int("factors", 16, 256, log=True),
        "learning_rate": trial.suggest_float("learning_rate", 1e-3, 0.2, log=True),
        "regularization": trial.suggest_float("regularization", 1e-5, 0.1, log=True),
        "iterations": trial.suggest_int("iterations", 20, 300, log=True),
    }


def _itemknn(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "K": trial.suggest_int("K", 5, 500, log=True),
        "similarity": trial.suggest_categorical("similarity", ["bm25", "cosine", "tfidf"]),
    }


def _ease(trial: optuna.Trial) -> dict[str, Any]:
    return {"l2": trial.suggest_float("l2", 1.0, 1e4, log=True)}


SEARCH_SPACES: dict[str, Space] = {"als": _als, "bpr": _bpr, "itemknn": _itemknn, "ease": _ease}


def search_space(model: str) -> Space:
    """The search space of ``model``; ``ConfigError`` naming the tunable models if it has none."""
    space = SEARCH_SPACES.get(model)
    if space is None:
        raise ConfigError(
            f"no search space for model {model!r}; tune one of {', '.join(SEARCH_SPACES)}"
        )
    return space


@dataclass(frozen=True)
class TuneResult:
    """The search outcome: best parameters, their validation and test metrics, the logged run."""

    run_id: str
    version: str | None
    params: dict[str, Any]
    validation: dict[str, float]
    test: dict[str, float]
    seconds: float
    trials: int
    promotion: Decision | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` shape: version, params, validation, test, seconds (and run_id)."""
        return {
            "run_id": self.run_id,
            "version": self.version,
            "params": self.params,
            "validation": self.validation,
            "test": self.test,
            "seconds": round(self.seconds, 3),
        }


def validation_data(train_events: pd.DataFrame, spec: TrainSpec,
                    catalog: pd.DataFrame | None = None) -> EvalData:
    """The fit/validation split of the train part, made like the test split (``prepare_split``)."""
    return prepare_split(train_events, spec, catalog)


def validate(spec: TrainSpec, data: EvalData) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Fit ``spec`` on ``data.train``; its metrics @k on ``data.test`` and their per-user values."""
    model = build_model(spec, data.train.items, None)
    model.fit(data.train.matrix)
    recommended = recommend_users(model, data, spec.k)
    per_user = per_user_metrics(recommended, data.test[data.users])
    return summarize(per_user, recommended, data.train.shape[1]), per_user


def choose(
    study: optuna.Study, per_user: dict[int, np.ndarray], se_rule: float = SE_RULE
) -> FrozenTrial:
    """The best trial, or the first one (the current parameters) if the best is not clearly better.

    "Clearly" is the one-standard-error rule: the best trial's mean gain over the first must
    exceed ``se_rule`` standard errors of their paired per-user difference on validation, or
    the search is chasing noise. Metrics without per-user values (coverage) take the best trial.
    """
    best, first = study.best_trial, study.trials[0]
    ours, theirs = per_user.get(best.number), per_user.get(first.number)
    if best.number == first.number or ours is None or theirs is None or len(ours) < 2:
        return best
    gain = ours - theirs
    standard_error = float(np.std(gain, ddof=1) / np.sqrt(len(gain)))
    return best if float(np.mean(gain)) > se_rule * standard_error else first


def search(
    spec: TrainSpec,
    data: EvalData,
    trials: int,
    metric: str,
    step: Step = no_progress,
    se_rule: float = SE_RULE,
) -> tuple[optuna.Study, FrozenTrial]:
    """Run ``trials`` seeded TPE trials of ``spec.model`` on ``data``, one nested run each.

    The first trial tries the current parameters (the model's defaults overridden by
    ``spec.params``). Returns the study and the chosen trial (see ``choose``).
    """
    space = search_space(spec.model)
    parent = mlflow.active_run()
    if parent is None:
        raise RuntimeError("search() logs each trial as a nested run: start a parent run first")
    per_user: dict[int, np.ndarray] = {}

    def objective(trial: optuna.Trial) -> float:
        trial_spec = spec.with_params(space(trial))
        with (
            step(f"trial {trial.number + 1}/{trials}"),
            mlflow.start_run(
                experiment_id=parent.info.experiment_id,
                run_name=f"trial-{trial.number + 1}",
                nested=True,
            ),
        ):
            mlflow.log_params(trial_spec.mlflow_params())
            metrics, values = validate(trial_spec, data)
            log_metrics("validation", metrics)
        trial.set_user_attr("metrics", metrics)
        if metric in values:
            per_user[trial.number] = values[metric]
        return metrics[metric]

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=spec.seed)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.enqueue_trial({**DEFAULT_PARAMS[spec.model], **spec.params})
    study.optimize(objective, n_trials=trials)
    return study, choose(study, per_user, se_rule)


def tune(
    events: pd.DataFrame,
    spec: TrainSpec,
    *,
    trials: int,
    experiment: str,
    metric: str = "ndcg@10",
    catalog: pd.DataFrame | None = None,
    register: str | None = None,
    alias: str | None = None,
    step: Step = no_progress,
) -> TuneResult:
    """Search ``spec.model``'s parameters on a validation split carved from the train part only.

    ``spec.params`` are fixed parameters the search does not touch unless its space names them.
    See ``train`` for ``experiment``, ``catalog``, ``register``, ``alias`` and ``step``.
    """
    if trials < 1:
        raise ConfigError(f"--trials must be >= 1, got {trials}")
    search_space(spec.model)  # before the run starts
    if alias and not register:
        raise ConfigError("--alias needs --register NAME (an alias points at a registered version)")
    metrics = sorted(f"{name}@{spec.k}" for name in (*PER_USER_METRICS, "coverage"))
    if metric not in metrics:
        raise ConfigError(f"--metric {metric!r} is not computed; choose one of {metrics}")
    started = time.perf_counter()
    with step("fingerprinting and splitting the events"):
        data_fingerprint = fingerprint(events)
        split = split_events(events, spec.protocol, spec.ratio, spec.seed)
        validation = validation_data(split.train, spec, catalog)
    with step(f"opening experiment {experiment!r} in the tracking store"):
        experiment_id = ensure_experiment(experiment)
    with start_job_run("tune", spec.model, experiment_id) as run:
        mlflow.set_tags({**version_tags(spec, data_fingerprint), "recsys.job": "tune"})
        log_fingerprint(data_fingerprint)
        mlflow.log_params({"trials": trials, "metric": metric})
        _, chosen = search(spec, validation, trials, metric, step)
        mlflow.log_params({"chosen_trial": chosen.number + 1})
        best = spec.with_params(chosen.params)
        with step(f"fitting the chosen parameters on the train part and scoring @{spec.k}"):
            test_data = prepare_split(events, spec, catalog)
            model, test = evaluate_spec(best, test_data, catalog)
        best = best.with_params(model.params)
        mlflow.log_params(best.mlflow_params())
        log_metrics("validation", chosen.user_attrs["metrics"])
        log_metrics("test", test)
        version = refit_and_log(events, best, catalog, data_fingerprint, register, step)
        seconds = time.perf_counter() - started
        mlflow.log_metric("seconds", seconds)
    decision = promote(register, version, alias) if alias and register and version else None
    return TuneResult(
        run_id=run.info.run_id,
        version=version,
        params=dict(model.params),
        validation=dict(chosen.user_attrs["metrics"]),
        test=test,
        seconds=seconds,
        trials=trials,
        promotion=decision,
    )
