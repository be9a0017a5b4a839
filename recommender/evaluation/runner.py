"""Fit models on an ``EvalData`` train matrix and score their top-k against the test relevance."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from recommender.errors import ModelError
from recommender.evaluation.dataset import EvalData
from recommender.evaluation.metrics import per_user_metrics, summarize
from recommender.models.base import Recommender


@dataclass(frozen=True)
class EvalResult:
    """Metrics of several models on one split.

    Attributes
    ----------
    metrics : dict
        Model name -> ``ranking_metrics`` (``precision@k`` ... ``coverage@k``).
    seconds : dict
        Model name -> seconds spent in ``fit``.
    per_user : dict
        Model name -> ``per_user_metrics``: one value per evaluated user, in ``EvalData.users``
        order, for paired comparisons (``paired_bootstrap``).
    errors : dict
        Model name -> why it has no results (``ModelError``, e.g. EASE refusing a catalog over
        its ``max_items``, or running out of memory); the other models' results stand.
    """

    metrics: dict[str, dict[str, float]]
    seconds: dict[str, float]
    per_user: dict[str, dict[str, np.ndarray]]
    errors: dict[str, str] = field(default_factory=dict)


def recommend_users(model: Recommender, data: EvalData, k: int = 10) -> np.ndarray:
    """Top-``k`` item indices for every evaluated user, ``-1`` padded; a user's train items are
    left out unless repeatable (``EvalData.repeatable``), as serving does."""
    history = data.train.matrix[data.users]
    if not data.repeatable.any():
        ids, _ = model.recommend(data.users, history, N=k, filter_already_liked_items=True)
        return ids
    return top_unseen(model, data.users, history, data.repeatable, k)


def top_unseen(model: Recommender, users: np.ndarray, history: sparse.csr_matrix,
               repeatable: np.ndarray, k: int) -> np.ndarray:
    """Top-``k`` of each user with the items of their ``history`` left out unless
    ``repeatable``: the model is asked for ``k`` plus the most such items any user has,
    unfiltered, and they are dropped afterwards."""
    keep = sparse.diags((~repeatable).astype(np.float32))
    seen = sparse.csr_matrix(history @ keep)
    seen.eliminate_zeros()
    extra = int(np.diff(seen.indptr).max(initial=0))
    n = min(k + extra, history.shape[1])
    ids, _ = model.recommend(users, history, N=n, filter_already_liked_items=False)
    out = np.full((len(users), k), -1, dtype=np.int64)
    for row in range(len(users)):
        drop = seen.indices[seen.indptr[row] : seen.indptr[row + 1]]
        kept = ids[row][(ids[row] >= 0) & ~np.isin(ids[row], drop)][:k]
        out[row, : len(kept)] = kept
    return out


def evaluate_model(
    model: Recommender, data: EvalData, k: int = 10, fit: bool = True
) -> dict[str, float]:
    """Ranking metrics @k of ``model`` over ``data.users``.

    Fits on ``data.train.matrix`` first unless ``fit=False`` (an already fitted model whose
    indices are those of ``data.train``).
    """
    if fit:
        model.fit(data.train.matrix)
    recommended = recommend_users(model, data, k)
    return summarize(_per_user(recommended, data), recommended, data.train.shape[1])


def evaluate_models(
    names: Sequence[str],
    data: EvalData,
    k: int = 10,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[str], None] | None = None,
) -> EvalResult:
    """Build each model with ``make_model(name, params[name])``, fit it and score it on ``data``.

    Every model is built first, so a bad parameter fails before anything is fitted. A model
    that fails to fit or rank (a ``ModelError`` or ``MemoryError``) is reported in
    ``EvalResult.errors`` and the others are still scored. ``progress`` receives one line
    before each model is fitted, one before it ranks and one when it fails.
    """
    # Imported here: the model registry pulls in implicit, which plain evaluation does not need.
    from recommender.models import make_model

    params = params or {}
    report = progress or (lambda message: None)
    pending = deque(make_model(name, params.get(name)) for name in names)  # bad ones fail first
    metrics: dict[str, dict[str, float]] = {}
    seconds: dict[str, float] = {}
    per_user: dict[str, dict[str, np.ndarray]] = {}
    errors: dict[str, str] = {}
    for position, name in enumerate(names, start=1):
        model = pending.popleft()  # released after its turn: one fitted model at a time
        report(f"fitting {name} ({position}/{len(names)})")
        started = time.perf_counter()
        try:
            model.fit(data.train.matrix)
            seconds[name] = time.perf_counter() - started
            report(f"ranking top {k} for {len(data.users):,} users with {name}")
            recommended = recommend_users(model, data, k)
        except (ModelError, MemoryError) as exc:
            errors[name] = str(exc) or f"{type(exc).__name__} while fitting or ranking"
            seconds.pop(name, None)
            report(f"{name} failed: {errors[name]}")
            continue
        per_user[name] = _per_user(recommended, data)
        metrics[name] = summarize(per_user[name], recommended, data.train.shape[1])
    return EvalResult(metrics=metrics, seconds=seconds, per_user=per_user, errors=errors)


def _per_user(recommended: np.ndarray, data: EvalData) -> dict[str, np.ndarray]:
    return per_user_metrics(recommended, data.test[data.users])
