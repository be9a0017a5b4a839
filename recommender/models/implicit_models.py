"""ALS, BPR and item-KNN: thin wrappers over implicit's CPU models.

Matrix-factorization models rank with implicit's native batched top-k; its output is converted to
our convention (``-1``/``-inf`` padding, always ``N`` columns, the query item never its own
neighbour). Fitting runs with BLAS limited to one thread, as implicit recommends.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Self

import numpy as np
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.cpu.matrix_factorization_base import MatrixFactorizationBase
from implicit.cpu.topk import topk
from implicit.nearest_neighbours import (
    BM25Recommender,
    CosineRecommender,
    ItemItemRecommender,
    TFIDFRecommender,
)
from implicit.utils import ParameterWarning
from scipy import sparse

from recommender.models._params import Param, validate_params
from recommender.models.base import IdsAndScores, Recommender, requested_users
from recommender.models.blas import blas_threads

# implicit scores filtered-out slots with -FLT_MAX; anything this low is padding.
_PADDING_BELOW = float(-np.finfo(np.float32).max) / 2

_SHARED: dict[str, Param] = {
    "factors": Param(64, "number of latent factors", low=1),
    "iterations": Param(15, "passes over the data", low=1),
    "random_state": Param(42, "seed of the initial factors", low=0),
    "num_threads": Param(0, "threads to fit and rank with, 0 = all cores", low=0),
}


def _single_thread_blas() -> AbstractContextManager[object]:
    return blas_threads(1)


def _padded(ids: np.ndarray, scores: np.ndarray, N: int) -> IdsAndScores:
    """2-D ``(ids, scores)`` with exactly ``N`` columns, padding marked ``-1``/``-inf``."""
    ids = np.asarray(ids, dtype=np.int64)[:, :N]
    scores = np.asarray(scores, dtype=np.float32)[:, :N]
    pad = N - ids.shape[1]
    ids = np.pad(ids, ((0, 0), (0, pad)), constant_values=-1)
    scores = np.pad(scores, ((0, 0), (0, pad)), constant_values=-np.inf)
    empty = ~np.isfinite(scores) | (scores < _PADDING_BELOW)
    ids[empty] = -1
    scores[empty] = -np.inf
    return ids, scores


class _Row:
    __slots__ = ("indices",)

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices


class _RowIndices:
    """What implicit's ``topk`` reads of its ``filter_query_items``: ``rows[i].indices``.

    ``implicit``'s own ``recommend`` passes a CSR matrix, and scipy's row slicing costs ~25 us a
    row under the GIL (half the time of ranking 20,000 users); here each row is a view of the
    CSR ``indices`` array.
    """

    def __init__(self, matrix: sparse.csr_matrix) -> None:
        self._indptr = matrix.indptr
        self._indices = matrix.indices

    def __getitem__(self, row: int) -> _Row:
        return _Row(self._indices[self._indptr[row] : self._indptr[row + 1]])


def _candidates(items: np.ndarray | None) -> np.ndarray | None:
    return None if items is None else np.unique(np.asarray(items, dtype=np.int64))


class _FactorModel(Recommender):
    """A matrix-factorization model from implicit; scores are user · item factor products."""

    PARAMS: ClassVar[dict[str, Param]]

    def __init__(self, **params: Any) -> None:
        super().__init__(**validate_params(self.name, self.PARAMS, params))
        self.model: MatrixFactorizationBase | None = None

    @abstractmethod
    def _make(self) -> MatrixFactorizationBase:
        """A fresh, unfitted implicit model with this model's parameters."""

    def _prepare(self, user_items: sparse.csr_matrix) -> sparse.csr_matrix:
        """The matrix implicit fits on."""
        return user_items

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        user_items = sparse.csr_matrix(user_items, dtype=np.float32)
        with _single_thread_blas():
            self.model = self._make()
            self.model.fit(self._prepare(user_items), show_progress=show_progress)
        self.n_items = user_items.shape[1]
        self.fitted = True
        return self

    def recommend(
        self,
        userid: int | np.ndarray,
        user_items: sparse.csr_matrix,
        N: int = 10,
        filter_already_liked_items: bool = True,
        items: np.ndarray | None = None,
    ) -> IdsAndScores:
        self._check_fitted()
        single, userids, user_items = requested_users(userid, user_items)
        items = _candidates(items)
        k = min(N, self.n_items if items is None else len(items))
        if k == 0 or len(userids) == 0:
            ids, scores = _padded(np.empty((len(userids), 0)), np.empty((len(userids), 0)), N)
        elif items is None:
            native = self._native()
            seen = _RowIndices(user_items) if filter_already_liked_items else None
            with _single_thread_blas():  # implicit's advice: threaded BLAS slows its ranking
                ids, scores = topk(
                    native.item_factors, native.user_factors[userids], k,
                    filter_query_items=seen, num_threads=native.num_threads,
                )
        else:
            with _single_thread_blas():
                ids, scores = self._native().recommend(
                    userids, user_items, N=k,
                    filter_already_liked_items=filter_already_liked_items, items=items,
                )
        ids, scores = _padded(np.atleast_2d(ids), np.atleast_2d(scores), N)
        return (ids[0], scores[0]) if single else (ids, scores)

    def similar_items(
        self, itemid: int | np.ndarray, N: int = 10, items: np.ndarray | None = None
    ) -> IdsAndScores:
        self._check_fitted()
        single = np.isscalar(itemid)
        itemids = np.atleast_1d(np.asarray(itemid, dtype=np.int64))
        items = _candidates(items)
        k = min(N + 1, self.n_items if items is None else len(items))
        if k == 0 or len(itemids) == 0:
            ids, scores = np.empty((len(itemids), 0)), np.empty((len(itemids), 0))
        else:
            with _single_thread_blas():
                ids, scores = self._native().similar_items(itemids, N=k, items=items)
            ids, scores = np.atleast_2d(ids).astype(np.int64), np.atleast_2d(scores)
            # The query item comes back as its own best neighbour: move it last and blank it.
            own = ids == itemids[:, None]
            order = np.argsort(own, axis=1, kind="stable")
            ids = np.where(np.take_along_axis(own, order, axis=1), -1,
                           np.take_along_axis(ids, order, axis=1))
            scores = np.where(ids < 0, -np.inf, np.take_along_axis(scores, order, axis=1))
        ids, scores = _padded(ids, scores, N)
        return (ids[0], scores[0]) if single else (ids, scores)

    def _user_scores(self, userids: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        model = self._native()
        return model.user_factors[userids] @ model.item_factors.T

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        model = self._native()
        norms = model.item_norms
        cosine = model.item_factors[itemids] @ model.item_factors.T
        return cosine / norms[itemids][:, None] / norms[None, :]

    def _arrays(self) -> dict[str, np.ndarray]:
        model = self._native()
        return {"user_factors": model.user_factors, "item_factors": model.item_factors}

    def _from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        with _single_thread_blas():
            self.model = self._make()
        self.model.user_factors = arrays["user_factors"].astype(np.float32)
        self.model.item_factors = arrays["item_factors"].astype(np.float32)

    def _native(self) -> MatrixFactorizationBase:
        self._check_fitted()
        assert self.model is not None
        return self.model


class ALSRecommender(_FactorModel):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) with the conjugate-gradient solver.

    The confidence of an observed pair is ``1 + alpha * value``; unobserved pairs have
    confidence 1 and preference 0.
    """

    name = "als"
    PARAMS: ClassVar[dict[str, Param]] = {
        **_SHARED,
        "regularization": Param(15.0, "L2 penalty on the factors", low=0),
        "alpha": Param(2.0, "confidence scale of observed pairs", low=0),
    }

    def _make(self) -> AlternatingLeastSquares:
        p = self.params
        return AlternatingLeastSquares(
            factors=p["factors"], regularization=p["regularization"], iterations=p["iterations"],
            random_state=p["random_state"], num_threads=p["num_threads"],
        )

    def _prepare(self, user_items: sparse.csr_matrix) -> sparse.csr_matrix:
        confidence = user_items.copy()
        confidence.data = 1.0 + self.params["alpha"] * confidence.data
        return confidence


class BPRRecommender(_FactorModel):
    """Bayesian Personalized Ranking (Rendle et al. 2009), trained by SGD on sampled triples.

    ``num_threads`` defaults to 1: implicit's multi-threaded BPR updates factors without locks,
    which is faster but not reproducible.
    """

    name = "bpr"
    PARAMS: ClassVar[dict[str, Param]] = {
        **_SHARED,
        "regularization": Param(0.01, "L2 penalty on the factors", low=0),
        "iterations": Param(100, "SGD epochs", low=1),
        "learning_rate": Param(0.005, "SGD step size", low=0),
        "num_threads": Param(1, "threads to fit with, 0 = all cores (not reproducible)", low=0),
    }

    def _make(self) -> BayesianPersonalizedRanking:
        p = self.params
        return BayesianPersonalizedRanking(
            factors=p["factors"], learning_rate=p["learning_rate"],
            regularization=p["regularization"], iterations=p["iterations"],
            random_state=p["random_state"], num_threads=p["num_threads"],
        )


_SIMILARITIES: dict[str, type[ItemItemRecommender]] = {
    "bm25": BM25Recommender,
    "cosine": CosineRecommender,
    "tfidf": TFIDFRecommender,
}


class ItemKNNRecommender(Recommender):
    """Item-item nearest neighbours: a user's score of an item sums its similarity to their items.

    ``similarity`` picks implicit's BM25, cosine or TF-IDF weighting; each item keeps its ``K``
    nearest neighbours. With ``binary`` (the default) similarities and scores count who
    interacted, not how much: time-decayed confidences otherwise let recent users dominate the
    similarities.
    """

    name = "itemknn"
    cooccurrence_similar = True
    PARAMS: ClassVar[dict[str, Param]] = {
        "similarity": Param("bm25", "item-item weighting", choices=tuple(_SIMILARITIES)),
        "K": Param(200, "neighbours kept per item", low=1),
        "K1": Param(1.2, "BM25 term-frequency saturation", low=0),
        "B": Param(0.5, "BM25 length normalization", low=0, high=1),
        "binary": Param(True, "use 1 for every interaction instead of its confidence"),
        "num_threads": Param(0, "threads to fit with, 0 = all cores", low=0),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**validate_params(self.name, self.PARAMS, params))
        self.similarity = sparse.csr_matrix((0, 0), dtype=np.float32)

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        p = self.params
        user_items = self._input(user_items)
        model: ItemItemRecommender
        if p["similarity"] == "bm25":
            model = BM25Recommender(K=p["K"], K1=p["K1"], B=p["B"], num_threads=p["num_threads"])
        else:
            model = _SIMILARITIES[p["similarity"]](K=p["K"], num_threads=p["num_threads"])
        with warnings.catch_warnings():
            # implicit's own weighting hands a COO matrix to its kNN and then warns about it
            warnings.filterwarnings("ignore", "Method expects CSR input", category=ParameterWarning)
            model.fit(user_items, show_progress=show_progress)
        self.similarity = sparse.csr_matrix(model.similarity, dtype=np.float32)
        self.n_items = user_items.shape[1]
        self.fitted = True
        return self

    def _user_scores(self, userids: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        return (self._input(user_items) @ self.similarity).toarray()

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        return self.similarity[itemids].toarray()

    def _arrays(self) -> dict[str, np.ndarray]:
        s = self.similarity
        return {"data": s.data, "indices": s.indices, "indptr": s.indptr}

    def _from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        n = len(arrays["indptr"]) - 1
        self.similarity = sparse.csr_matrix(
            (arrays["data"], arrays["indices"], arrays["indptr"]), shape=(n, n), dtype=np.float32
        )

    def _input(self, user_items: sparse.csr_matrix) -> sparse.csr_matrix:
        matrix = sparse.csr_matrix(user_items, dtype=np.float32)
        return (matrix > 0).astype(np.float32) if self.params["binary"] else matrix
