"""What a training job computes from its events before MLflow is involved.

The events are encoded once; the fingerprint and the matrix of all events are made on a worker
thread beside the held-out split. Nothing here imports MLflow, so the CLI prepares the data
while MLflow is still being imported on another thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from recommender.evaluation import EvalData, prepare
from recommender.matrix import EncodedEvents, Interactions, build_interactions
from recommender.rules import repeatable_items
from training.fingerprint import Fingerprint, fingerprint
from training.spec import TrainSpec

Step = Callable[[str], AbstractContextManager[object]]
"""Progress hook: ``with step("fitting als"):`` wraps each long step."""


def no_progress(message: str) -> AbstractContextManager[object]:
    return nullcontext()


@dataclass(frozen=True)
class JobData:
    """The events of a training job and what its run needs of them, made for one ``spec``.

    ``split`` is the held-out evaluation (train matrix, test relevance, capped test users);
    ``everything`` the confidence matrix of all events, which the logged model is fitted on.
    ``events`` is ``None`` when Spark prepared the job (``training.spark.job_data``): the raw
    events stay there.
    """

    events: pd.DataFrame | None
    spec: TrainSpec
    fingerprint: Fingerprint
    split: EvalData
    everything: Interactions
    seconds: float


def prepare_job(events: pd.DataFrame, spec: TrainSpec, step: Step = no_progress,
                catalog: pd.DataFrame | None = None) -> JobData:
    """Encode, fingerprint and split ``events`` and build the matrix of all of them; the
    ``catalog`` gives the categories of ``spec.repeatable_categories``."""
    started = time.perf_counter()
    with step("encoding the events"):
        encoded = EncodedEvents.from_frame(events)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="recsys-job-data") as pool:
        beside = pool.submit(lambda: (fingerprint(events, encoded), full_matrix(encoded, spec)))
        with step(f"splitting ({spec.split_key}) and building the train matrix"):
            split = prepare_split(encoded, spec, catalog)
        with step("fingerprinting the events and building the full matrix"):
            data_fingerprint, everything = beside.result()
    seconds = time.perf_counter() - started
    return JobData(events, spec, data_fingerprint, split, everything, seconds)


def sample_users(data: EvalData, limit: int, seed: int) -> EvalData:
    """``data`` evaluated over at most ``limit`` of its users (seeded, sorted; 0 = all)."""
    if limit <= 0 or len(data.users) <= limit:
        return data
    users = np.sort(np.random.default_rng(seed).choice(data.users, limit, replace=False))
    return replace(data, users=users, summary={**data.summary, "eval_users": limit,
                                               "eval_users_before_sampling": len(data.users)})


def prepare_split(events: pd.DataFrame | EncodedEvents, spec: TrainSpec,
                  catalog: pd.DataFrame | None = None) -> EvalData:
    """The train matrix and test relevance of ``spec``'s split, its test users capped; items of
    ``spec.repeatable_categories`` in ``catalog`` stay rankable and relevant (``prepare``)."""
    data = prepare(events, spec.protocol, spec.ratio, spec.seed, spec.weights,
                   spec.half_life_days, repeatable_items(catalog, spec.repeatable_categories))
    return sample_users(data, spec.eval_users, spec.seed)


def full_matrix(events: pd.DataFrame | EncodedEvents, spec: TrainSpec) -> Interactions:
    """The confidence matrix of all ``events`` under ``spec``'s weights and half-life."""
    if isinstance(events, EncodedEvents):
        return events.interactions(spec.weights, spec.half_life_days)
    return build_interactions(events, spec.weights, spec.half_life_days)
