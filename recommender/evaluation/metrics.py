"""Ranking metrics @k, vectorized over users.

Inputs are ``recommended``, an int array ``(n_users, k)`` of item indices, best first, ``-1`` for
padding, and ``relevant``, a CSR matrix whose row ``u`` holds the relevant items of the user of
``recommended[u]`` (any non-zero counts as relevant; gain is binary). Per user, with ``rel_i = 1``
when the item at rank ``i`` is relevant and ``R`` the number of relevant items:

- ``precision@k = hits / k`` (not ``hits / min(k, R)`` as ``implicit.evaluation`` reports)
- ``recall@k = hits / R``
- ``ndcg@k = Σ rel_i / log2(i + 1) / IDCG``, IDCG over ``min(k, R)`` ideal hits
- ``map@k = Σ P@i · rel_i / min(k, R)``
- ``hit_rate@k = 1`` if any hit
- ``coverage@k`` (over all users) = distinct recommended items / items in train

Each row of ``recommended`` is expected to list distinct items (what ``Recommender.recommend``
returns).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import sparse

PER_USER_METRICS = ("precision", "recall", "ndcg", "map", "hit_rate")  # in output order


def hits_at_k(recommended: np.ndarray, relevant: sparse.csr_matrix) -> np.ndarray:
    """Boolean ``(n_users, k)``: is ``recommended[u, i]`` relevant to user ``u``? Padding never."""
    recommended = np.asarray(recommended, dtype=np.int64)
    if recommended.ndim != 2 or recommended.shape[1] == 0:
        raise ValueError(f"recommended must be 2-D (users x k, k >= 1), got {recommended.shape}")
    relevant = sparse.csr_matrix(relevant)
    n_rows, n_cols = relevant.shape
    if n_rows != recommended.shape[0]:
        raise ValueError(
            f"relevant has {n_rows} rows for {recommended.shape[0]} users; pass the relevance "
            "rows of the same users, in the same order"
        )
    if not relevant.has_canonical_format:
        relevant = relevant.copy()
        relevant.sum_duplicates()  # also sorts the indices of each row
    row_of_nnz = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(relevant.indptr))
    keys = row_of_nnz * n_cols + relevant.indices  # sorted: rows ascend, columns sorted within
    valid = (recommended >= 0) & (recommended < n_cols)
    queries = np.arange(n_rows, dtype=np.int64)[:, None] * n_cols + np.where(valid, recommended, 0)
    if len(keys) == 0:
        return np.zeros(recommended.shape, dtype=bool)
    positions = np.minimum(np.searchsorted(keys, queries), len(keys) - 1)
    return valid & (keys[positions] == queries)


def per_user_metrics(recommended: np.ndarray, relevant: sparse.csr_matrix) -> dict[str, np.ndarray]:
    """Per-user precision, recall, nDCG, MAP and hit rate @k, ``k`` = width of ``recommended``.

    Raises
    ------
    ValueError
        A user has no relevant item (recall and nDCG are undefined): evaluate only users with at
        least one relevant test item.
    """
    hits = hits_at_k(recommended, relevant)
    k = hits.shape[1]
    n_relevant = np.diff(sparse.csr_matrix(relevant).indptr)
    if np.any(n_relevant == 0):
        raise ValueError(
            f"{int(np.sum(n_relevant == 0))} users have no relevant item; evaluate only users "
            "with at least one relevant test item"
        )
    ideal_hits = np.minimum(n_relevant, k)
    n_hits = hits.sum(axis=1)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts
    ideal_dcg = np.cumsum(discounts)[ideal_hits - 1]
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    average_precision = (precision_at_i * hits).sum(axis=1) / ideal_hits
    values = (
        n_hits / k,
        n_hits / n_relevant,
        dcg / ideal_dcg,
        average_precision,
        (n_hits > 0).astype(np.float64),
    )
    return {f"{name}@{k}": value for name, value in zip(PER_USER_METRICS, values, strict=True)}


def coverage(recommended: np.ndarray, n_items: int) -> float:
    """Distinct recommended items (padding excluded) over ``n_items``, the items in train."""
    if n_items <= 0:
        raise ValueError(f"n_items must be positive, got {n_items}")
    recommended = np.asarray(recommended)
    return float(len(np.unique(recommended[recommended >= 0])) / n_items)


def summarize(
    per_user: Mapping[str, np.ndarray], recommended: np.ndarray, n_items: int
) -> dict[str, float]:
    """Means of ``per_user`` metrics plus ``coverage@k`` of ``recommended``."""
    k = np.asarray(recommended).shape[1]
    if any(len(values) == 0 for values in per_user.values()):
        raise ValueError("no users to evaluate: every metric would be a mean of nothing")
    means = {name: float(np.mean(values)) for name, values in per_user.items()}
    return {**means, f"coverage@{k}": coverage(recommended, n_items)}


def ranking_metrics(
    recommended: np.ndarray, relevant: sparse.csr_matrix, n_items: int
) -> dict[str, float]:
    """Mean precision, recall, nDCG, MAP, hit rate @k over users, and catalog coverage @k.

    Keys are ``precision@k``, ``recall@k``, ``ndcg@k``, ``map@k``, ``hit_rate@k``, ``coverage@k``
    with the actual ``k`` (the width of ``recommended``).
    """
    return summarize(per_user_metrics(recommended, relevant), recommended, n_items)
