"""What an offline evaluation runs on: train matrix and test relevance in one index space."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from recommender.config import DEFAULT_WEIGHTS
from recommender.errors import ConfigError
from recommender.evaluation.splits import split_masks
from recommender.matrix import EncodedEvents, IdMap, Interactions


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
    repeatable : ndarray of bool
        Per train item: whether a user who has it may be recommended it again (its category is
        one of ``rules.repeatable_categories``). An item a user has in train is relevant in
        test, and rankable, only if it is repeatable (see ``prepare``).
    summary : dict
        Protocol, ratio, seed and the row, user and item counts of both parts (for fingerprints
        and reports).
    """

    train: Interactions
    test: sparse.csr_matrix
    users: np.ndarray
    n_test_only_items: int
    summary: dict[str, int | float | str]
    repeatable: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))


def prepare(
    events: pd.DataFrame | EncodedEvents,
    protocol: str,
    ratio: float = 0.75,
    seed: int = 42,
    weights: Mapping[str, float] | None = None,
    half_life_days: float = 0.0,
    repeatable_items: Collection[str] = (),
) -> EvalData:
    """Split ``events`` and build the train matrix and test relevance of an evaluation.

    The train matrix is the confidence matrix of the train events with ``weights`` and
    ``half_life_days``, decayed from the newest train event. Relevant test items are the distinct
    items of test events whose weight is > 0, except an item the user already has in train that
    is not in ``repeatable_items``: serving never shows a user what they have (outside
    repeatable categories), so the ranking leaves it out and it cannot count as relevant either.
    A repeatable item is both rankable and relevant again (a breakfast regular's usual order).
    ``weights=None`` means ``DEFAULT_WEIGHTS``.
    ``events`` may come encoded already (``EncodedEvents.from_frame``), as a job that also
    fingerprints them and fits on all of them does.

    Raises
    ------
    ConfigError
        Bad protocol or ratio, an event type without a weight, or a split that leaves no user
        with both a train item and a relevant test item.
    """
    encoded = events if isinstance(events, EncodedEvents) else EncodedEvents.from_frame(events)
    weights = DEFAULT_WEIGHTS if weights is None else weights
    train_rows, test_rows = split_masks(encoded.users, encoded.seconds, protocol, ratio, seed)
    reference = float(encoded.seconds[train_rows].max()) if train_rows.any() else None
    train = encoded.interactions(weights, half_life_days, reference, rows=train_rows)
    repeatable = repeatable_mask(train.items, repeatable_items)
    test, n_test_only, dropped = _relevance(encoded, weights, test_rows, train, repeatable)
    return eval_data(train, test, repeatable, n_test_only, dropped,
                     {"protocol": protocol, "ratio": float(ratio), "seed": int(seed),
                      "train_rows": int(train_rows.sum()), "test_rows": int(test_rows.sum())})


def repeatable_mask(items: IdMap, repeatable_items: Collection[str]) -> np.ndarray:
    """Per item of ``items``: whether it is one of ``repeatable_items``
    (``EvalData.repeatable``)."""
    return np.asarray(items.index.isin(list(repeatable_items)), dtype=bool)


def eval_data(train: Interactions, test: sparse.csr_matrix, repeatable: np.ndarray,
              n_test_only: int, dropped: int, split: dict[str, int | float | str]) -> EvalData:
    """The ``EvalData`` of a split's train matrix and test relevance (``relevance_matrix``):
    its evaluated users and summary (``split`` has the protocol, ratio, seed and row counts).

    Raises ``ConfigError`` when no user has both a train item and a relevant test item.
    """
    has_train = np.diff(train.matrix.indptr) > 0
    has_test = np.diff(test.indptr) > 0
    users = np.flatnonzero(has_train & has_test)
    if len(users) == 0:
        raise ConfigError(
            f"the {split['protocol']} split (ratio {split['ratio']}) leaves no user with both a "
            "train item and a relevant test item (weight > 0); try another --protocol or "
            "--ratio, or check --weights"
        )
    summary: dict[str, int | float | str] = {
        "protocol": split["protocol"],
        "ratio": split["ratio"],
        "seed": split["seed"],
        "train_rows": split["train_rows"],
        "train_users": int(has_train.sum()),
        "train_items": train.shape[1],
        "train_nnz": train.nnz,
        "test_rows": split["test_rows"],
        "test_users": int(has_test.sum()),
        "test_items": int(np.count_nonzero(np.diff(test.tocsc().indptr))),
        "test_only_items": n_test_only,
        "test_pairs_already_had": dropped,
        "eval_users": len(users),
    }
    return EvalData(train=train, test=test, users=users, n_test_only_items=n_test_only,
                    summary=summary, repeatable=repeatable)


def _relevance(
    encoded: EncodedEvents,
    weights: Mapping[str, float],
    test_rows: np.ndarray,
    train: Interactions,
    repeatable: np.ndarray,
) -> tuple[sparse.csr_matrix, int, int]:
    """Binary test relevance in ``train``'s index space, test-only items appended as columns;
    the (user, item) pairs the user already had in train left out unless the item is
    repeatable. Also the count of those left out."""
    relevant = test_rows & (encoded.weights(weights) > 0)
    rows = positions(encoded.users[relevant], encoded.user_ids, train.users)
    known = rows >= 0
    rows = rows[known]
    item_codes = encoded.items[relevant][known]
    cols = positions(item_codes, encoded.item_ids, train.items)
    unseen = cols < 0
    extra_codes, extra_ids = pd.factorize(item_codes[unseen])
    cols[unseen] = train.shape[1] + extra_codes
    matrix, had = relevance_matrix(rows, cols, train, len(extra_ids), repeatable)
    return matrix, len(extra_ids), had


def relevance_matrix(rows: np.ndarray, cols: np.ndarray, train: Interactions, n_extra: int,
                     repeatable: np.ndarray) -> tuple[sparse.csr_matrix, int]:
    """Binary relevance of the (row, col) pairs of relevant test events in ``train``'s index
    space (cols past ``train``'s items: the ``n_extra`` test-only items), without the pairs the
    user already had in train unless repeatable; also the count of those left out."""
    n_cols = train.shape[1] + n_extra
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(train.shape[0], n_cols)
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    had = _already_had(matrix, train.matrix, repeatable)
    matrix.data[had] = 0.0
    matrix.eliminate_zeros()
    return matrix, int(had.sum())


def _already_had(test: sparse.csr_matrix, train: sparse.csr_matrix, repeatable: np.ndarray
                 ) -> np.ndarray:
    """Per stored entry of ``test``: the user has the item in ``train`` and it is not
    repeatable."""
    n_train = train.shape[1]
    test_rows = np.repeat(np.arange(test.shape[0], dtype=np.int64), np.diff(test.indptr))
    train_rows = np.repeat(np.arange(train.shape[0], dtype=np.int64), np.diff(train.indptr))
    width = max(test.shape[1], 1)
    had = np.isin(test_rows * width + test.indices, train_rows * width + train.indices)
    in_train = test.indices < n_train
    had &= in_train
    had[in_train] &= ~repeatable[test.indices[in_train]]
    return had


def positions(codes: np.ndarray, ids: IdMap, subset: IdMap) -> np.ndarray:
    """Index in ``subset`` of each code of ``ids``; ``-1`` where its id is not in ``subset``."""
    position_of = subset.to_index(ids.index) if subset is not ids else np.arange(len(ids))
    return np.where(codes >= 0, position_of[codes], -1)
