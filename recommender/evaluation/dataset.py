"""What an offline evaluation runs on: train matrix and test relevance in one index space."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from recommender.config import DEFAULT_WEIGHTS
from recommender.errors import ConfigError
from recommender.evaluation.splits import Split, split_events
from recommender.matrix import Interactions, build_interactions, event_weights


@dataclass(frozen=True)
class EvalData:
    """Train interactions and binary test relevance over the same users and items.

    Attributes
    ----------
    train : Interactions
        Confidence matrix of the train events (users x items) with its id maps.
    test : csr_matrix
        Binary relevance, ``train.shape[0]`` rows; the first ``train.shape[1]`` columns are the
        train items, then one column per relevant test item that never occurs in train (it counts
        in ``|relevant|`` and can never be hit).
    users : ndarray of int
        Evaluated users: row indices with at least one train item and one relevant test item.
    n_test_only_items : int
        Relevant test items absent from train (the extra columns of ``test``).
    summary : dict
        Protocol, ratio, seed and the row, user and item counts of both parts (for fingerprints
        and reports).
    """

    train: Interactions
    test: sparse.csr_matrix
    users: np.ndarray
    n_test_only_items: int
    summary: dict[str, int | float | str]


def prepare(
    events: pd.DataFrame,
    protocol: str,
    ratio: float = 0.75,
    seed: int = 42,
    weights: Mapping[str, float] | None = None,
    half_life_days: float = 0.0,
) -> EvalData:
    """Split ``events`` and build the train matrix and test relevance of an evaluation.

    The train matrix is ``build_interactions`` of the train events with ``weights`` and
    ``half_life_days``, decayed from the newest train event. Relevant test items are the distinct
    items of test events whose weight is > 0. ``weights=None`` means ``DEFAULT_WEIGHTS``.

    Raises
    ------
    ConfigError
        Bad protocol or ratio, an event type without a weight, or a split that leaves no user
        with both a train item and a relevant test item.
    """
    split = split_events(events, protocol, ratio, seed)
    weights = DEFAULT_WEIGHTS if weights is None else weights
    reference = split.train["timestamp"].max() if len(split.train) else None
    train = build_interactions(split.train, weights, half_life_days, reference_time=reference)
    test, n_test_only = _relevance(split, train, weights)
    has_train = np.diff(train.matrix.indptr) > 0
    has_test = np.diff(test.indptr) > 0
    users = np.flatnonzero(has_train & has_test)
    if len(users) == 0:
        raise ConfigError(
            f"the {protocol} split (ratio {ratio}) leaves no user with both a train item and a "
            "relevant test item (weight > 0); try another --protocol or --ratio, or check --weights"
        )
    summary: dict[str, int | float | str] = {
        "protocol": protocol,
        "ratio": float(ratio),
        "seed": int(seed),
        "train_rows": len(split.train),
        "train_users": int(has_train.sum()),
        "train_items": train.shape[1],
        "train_nnz": train.nnz,
        "test_rows": len(split.test),
        "test_users": int(has_test.sum()),
        "test_items": int(np.count_nonzero(np.diff(test.tocsc().indptr))),
        "test_only_items": n_test_only,
        "eval_users": len(users),
    }
    return EvalData(
        train=train, test=test, users=users, n_test_only_items=n_test_only, summary=summary
    )


def _relevance(
    split: Split, train: Interactions, weights: Mapping[str, float]
) -> tuple[sparse.csr_matrix, int]:
    """Binary test relevance in ``train``'s index space, test-only items appended as columns."""
    test = split.test
    relevant = test.loc[event_weights(test["event"], weights) > 0]
    rows = train.users.to_index(relevant["user_id"])
    known = rows >= 0
    item_ids = relevant["item_id"].to_numpy()[known]
    rows = rows[known]
    cols = train.items.to_index(item_ids)
    unseen = cols < 0
    extra_codes, extra_ids = pd.factorize(item_ids[unseen])
    cols[unseen] = train.shape[1] + extra_codes
    n_cols = train.shape[1] + len(extra_ids)
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(train.shape[0], n_cols)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix, len(extra_ids)
