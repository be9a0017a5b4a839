"""The one small contract every model follows.

Rows of ``user_items`` are users and columns items, in implicit's orientation. ``recommend`` and
``similar_items`` take one index (and return 1-D arrays) or an array of indices (and return 2-D
arrays, one row each); both shapes share one code path. Rows with fewer than ``N`` candidates are
padded with id ``-1`` and score ``-inf``.

Models save to one ``.npz`` file of plain arrays plus a JSON header: never pickle.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse

from recommender.errors import ModelError, NotFittedError

IdsAndScores = tuple[np.ndarray, np.ndarray]
_META_KEY = "__meta__"
_BATCH_ROWS = 2048
_BATCH_CELLS = 1 << 22  # dense scores per batch: bounds memory on large catalogs


class Recommender(ABC):
    """Base class: fit on a confidence matrix, then recommend and find similar items.

    Subclasses implement ``fit``, ``_user_scores`` (dense scores of some users over all items),
    ``_item_scores`` (dense similarity of some items to all items), ``_arrays`` and
    ``_from_arrays``. Models with a faster native path may override ``recommend``.

    Parameters are keyword arguments of the constructor, kept in ``params`` so that a saved
    model can be rebuilt.
    """

    name: ClassVar[str]
    registry: ClassVar[dict[str, type[Recommender]]] = {}
    cooccurrence_similar: ClassVar[bool] = False
    """Whether ``similar_items`` is item-to-item co-occurrence ("who took this also took
    that"), what a session ranking starts from (``recommender.models.session``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            Recommender.registry[cls.name] = cls

    def __init__(self, **params: Any) -> None:
        self.params: dict[str, Any] = params
        self.n_items = 0
        self.fitted = False

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        """Learn from a users x items confidence matrix (CSR)."""

    @abstractmethod
    def _user_scores(self, userids: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        """Dense scores, shape ``(len(userids), n_items)``; ``user_items`` has their rows."""

    @abstractmethod
    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        """Dense similarity of each item to every item, shape ``(len(itemids), n_items)``."""

    @abstractmethod
    def _arrays(self) -> dict[str, np.ndarray]:
        """The learned state as plain arrays."""

    @abstractmethod
    def _from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore the learned state saved by ``_arrays``."""

    # ------------------------------------------------------------------ the contract
    def recommend(
        self,
        userid: int | np.ndarray,
        user_items: sparse.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        items: np.ndarray | None = None,
    ) -> IdsAndScores:
        """Top ``N`` items for one user index or an array of them.

        Parameters
        ----------
        userid : int or array of int
            Row indices of the users in the training matrix.
        user_items : csr_matrix
            The users' interactions, one row per requested user, all items as columns.
        N : int
            How many items to return per user.
        filter_already_liked_items : bool
            Drop the items in each user's ``user_items`` row.
        items : array of int, optional
            Rank only these item indices (a candidate subset such as one category).

        Returns
        -------
        (ids, scores) : 1-D arrays for one user, 2-D ``(n_users, N)`` arrays for many.
        """
        self._check_fitted()
        single, userids, user_items = requested_users(userid, user_items)
        ids = np.empty((len(userids), N), dtype=np.int64)
        scores = np.empty((len(userids), N), dtype=np.float32)
        rows = self._batch_rows()
        for start in range(0, len(userids), rows):
            stop = start + rows
            batch = self._user_scores(userids[start:stop], user_items[start:stop])
            seen = user_items[start:stop] if filter_already_liked_items else None
            ids[start:stop], scores[start:stop] = top_n(batch, N, seen=seen, items=items)
        return (ids[0], scores[0]) if single else (ids, scores)

    def similar_items(
        self, itemid: int | np.ndarray, N: int = 10, items: np.ndarray | None = None
    ) -> IdsAndScores:
        """The ``N`` items most similar to each given item, the item itself excluded."""
        self._check_fitted()
        single = np.isscalar(itemid)
        itemids = np.atleast_1d(np.asarray(itemid, dtype=np.int64))
        ids = np.empty((len(itemids), N), dtype=np.int64)
        scores = np.empty((len(itemids), N), dtype=np.float32)
        rows = self._batch_rows()
        for start in range(0, len(itemids), rows):
            chunk = itemids[start : start + rows]
            batch = self._item_scores(chunk).astype(np.float32, copy=True)
            batch[np.arange(len(chunk)), chunk] = -np.inf
            ids[start : start + len(chunk)], scores[start : start + len(chunk)] = top_n(
                batch, N, items=items
            )
        return (ids[0], scores[0]) if single else (ids, scores)

    def save(self, path: str | Path) -> Path:
        """Write the model to ``path`` (``.npz``); returns the path written."""
        self._check_fitted()
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        meta = {"model": self.name, "params": self.params, "n_items": self.n_items}
        arrays = self._arrays()
        if _META_KEY in arrays:
            raise ModelError(f"{_META_KEY!r} is a reserved array name")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **arrays, **{_META_KEY: np.array(json.dumps(meta))})
        return path

    @staticmethod
    def load(path: str | Path) -> Recommender:
        """Read a model written by ``save``, whatever its class."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = json.loads(str(data[_META_KEY]))
            arrays = {key: data[key] for key in data.files if key != _META_KEY}
        try:
            return Recommender.restore(meta["model"], meta["params"], arrays,
                                       int(meta["n_items"]))
        except ModelError as exc:
            raise ModelError(f"{path}: {exc}") from None

    @staticmethod
    def restore(model: str, params: dict[str, Any], arrays: dict[str, np.ndarray],
                n_items: int) -> Recommender:
        """The fitted ``model`` (a registered name) of ``params`` and its ``arrays`` (what
        ``load`` reads; Spark's publish builds one per block of users)."""
        cls = Recommender.registry.get(model)
        if cls is None:
            raise ModelError(f"unknown model type {model!r}")
        restored = cls(**params)
        restored._from_arrays(arrays)
        restored.n_items = n_items
        restored.fitted = True
        return restored

    def _batch_rows(self) -> int:
        return max(1, min(_BATCH_ROWS, _BATCH_CELLS // max(self.n_items, 1)))

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise NotFittedError(f"{self.name}: call fit() or load() first")

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{type(self).__name__}({args})"


def requested_users(
    userid: int | np.ndarray, user_items: sparse.csr_matrix
) -> tuple[bool, np.ndarray, sparse.csr_matrix]:
    """``recommend``'s arguments checked: (one user?, user indices, their float32 CSR rows)."""
    single = bool(np.isscalar(userid))
    userids = np.atleast_1d(np.asarray(userid, dtype=np.int64))
    rows = sparse.csr_matrix(user_items, dtype=np.float32)
    if rows.shape[0] != len(userids):
        raise ValueError(
            f"user_items has {rows.shape[0]} rows for {len(userids)} users; pass the "
            "rows of the requested users only (user_items[userids])"
        )
    return single, userids, rows


def top_n(
    scores: np.ndarray,
    N: int,
    seen: sparse.csr_matrix | None = None,
    items: np.ndarray | None = None,
) -> IdsAndScores:
    """Best ``N`` columns of each row of ``scores`` (modified in place), best first.

    ``seen`` masks each row's stored columns; ``items`` keeps only those columns. Rows with fewer
    finite candidates than ``N`` are padded with id ``-1`` and score ``-inf``.
    """
    scores = np.asarray(scores, dtype=np.float32)
    if scores.ndim != 2:
        raise ValueError("scores must be 2-D")
    n_rows, n_cols = scores.shape
    if items is not None:
        allowed = np.zeros(n_cols, dtype=bool)
        allowed[np.asarray(items, dtype=np.int64)] = True
        scores[:, ~allowed] = -np.inf
    if seen is not None and seen.nnz:
        seen = sparse.csr_matrix(seen)
        rows = np.repeat(np.arange(n_rows), np.diff(seen.indptr))
        scores[rows, seen.indices] = -np.inf
    k = min(N, n_cols)
    if k < n_cols:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(n_cols), (n_rows, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
    best = np.take_along_axis(part_scores, order, axis=1)
    out_ids = np.full((n_rows, N), -1, dtype=np.int64)
    out_scores = np.full((n_rows, N), -np.inf, dtype=np.float32)
    out_ids[:, :k] = np.where(np.isfinite(best), ids, -1)
    out_scores[:, :k] = best
    return out_ids, out_scores
