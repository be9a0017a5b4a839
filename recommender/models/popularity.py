"""Popularity, globally or per category: the baseline and the fallback for unknown users."""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse

from recommender.models._params import Param, validate_params
from recommender.models.base import Recommender


class PopularityRecommender(Recommender):
    """Ranks items by how many users interacted with them (or by total confidence).

    With item categories set (``set_item_categories``) and ``per_category=True``, the score of an
    item for a user is its popularity share within its category times the user's share of
    interactions in that category; items of categories the user never touched, and every item for
    a user without history, follow in order of global popularity. ``similar_items`` returns the
    most popular items of the same category first, then the globally popular ones.
    """

    name = "pop"
    PARAMS: ClassVar[dict[str, Param]] = {
        "by": Param("users", "what an item's popularity counts", choices=("users", "confidence")),
        "per_category": Param(False, "rank within the categories each user buys from"),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**validate_params(self.name, self.PARAMS, params))
        self.item_popularity = np.zeros(0, dtype=np.float64)
        self.item_categories: np.ndarray | None = None

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        weights = self._weights(sparse.csr_matrix(user_items))
        self.n_items = weights.shape[1]
        if self.item_categories is not None:
            self._check_categories(self.item_categories)
        self.item_popularity = np.asarray(weights.sum(axis=0), dtype=np.float64).ravel()
        self.fitted = True
        return self

    def set_item_categories(self, codes: np.ndarray) -> None:
        """One integer category code per item column (``-1`` = none); saved with the model."""
        codes = np.asarray(codes)
        if codes.ndim != 1 or not np.issubdtype(codes.dtype, np.integer):
            raise ValueError("item category codes must be a 1-D integer array, -1 for none")
        if self.fitted:
            self._check_categories(codes)
        self.item_categories = codes.astype(np.int64)

    # ------------------------------------------------------------------ scoring
    def _user_scores(self, userids: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        popularity = self._normalized_popularity()
        if not self.params["per_category"] or not self._has_categories():
            return np.tile(popularity, (len(userids), 1))
        codes = self._codes()
        categorized = codes >= 0
        n_categories = int(codes.max()) + 1
        item_category = sparse.csr_matrix(
            (np.ones(categorized.sum()), (np.flatnonzero(categorized), codes[categorized])),
            shape=(self.n_items, n_categories),
        )
        weights = self._weights(sparse.csr_matrix(user_items, dtype=np.float64))
        per_category = np.asarray((weights @ item_category).todense())
        totals = np.asarray(weights.sum(axis=1)).ravel()
        user_share = per_category / np.maximum(totals, np.finfo(np.float64).tiny)[:, None]
        category_popularity = np.bincount(
            codes[categorized], weights=self.item_popularity[categorized], minlength=n_categories
        )
        item_share = np.zeros(self.n_items)
        item_share[categorized] = self.item_popularity[categorized] / np.maximum(
            category_popularity[codes[categorized]], np.finfo(np.float64).tiny
        )
        primary = np.zeros((len(userids), self.n_items))
        primary[:, categorized] = user_share[:, codes[categorized]] * item_share[categorized]
        # Global popularity fills in below the smallest per-category score of each user.
        smallest = np.where(primary > 0, primary, np.inf).min(axis=1)
        floor = np.where(np.isfinite(smallest), 0.5 * smallest, 1.0)
        return np.where(primary > 0, primary, popularity * floor[:, None])

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        popularity = self._normalized_popularity()
        scores = np.tile(popularity, (len(itemids), 1))
        if self._has_categories():
            codes = self._codes()
            same = (codes[itemids][:, None] == codes[None, :]) & (codes[None, :] >= 0)
            scores += same
        return scores

    # ------------------------------------------------------------------ storage
    def _arrays(self) -> dict[str, np.ndarray]:
        return {"item_popularity": self.item_popularity, "item_categories": self._codes()}

    def _from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.item_popularity = arrays["item_popularity"].astype(np.float64)
        codes = arrays["item_categories"].astype(np.int64)
        self.item_categories = codes if (codes >= 0).any() else None

    # ------------------------------------------------------------------ helpers
    def _weights(self, user_items: sparse.csr_matrix) -> sparse.csr_matrix:
        """Confidence, or 1 for every positive entry when counting users."""
        if self.params["by"] == "confidence":
            return user_items.maximum(0)
        return (user_items > 0).astype(np.float64)

    def _normalized_popularity(self) -> np.ndarray:
        """Popularity scaled into ``[0, 1]``."""
        top = self.item_popularity.max(initial=0.0)
        return self.item_popularity / top if top > 0 else self.item_popularity.copy()

    def _codes(self) -> np.ndarray:
        if self.item_categories is None:
            return np.full(self.n_items, -1, dtype=np.int64)
        return self.item_categories

    def _has_categories(self) -> bool:
        return self.item_categories is not None and bool((self.item_categories >= 0).any())

    def _check_categories(self, codes: np.ndarray) -> None:
        if len(codes) != self.n_items:
            raise ValueError(
                f"pop: {len(codes)} item category codes for {self.n_items} items; pass one code "
                "per item column, -1 for none"
            )
