"""EASE: a closed-form linear item-item model (Steck, "Embarrassingly Shallow Autoencoders", 2019).

With ``G = XᵀX + l2·I`` and ``P = G⁻¹``, the item-item weights are ``B = -P / diag(P)`` column-wise
with a zero diagonal, and a user's scores are ``x_u · B``. The inverse needs a dense
items x items matrix, so the catalog size is capped by ``max_items``.
"""

from __future__ import annotations

from typing import Any, ClassVar, Self

import numpy as np
from scipy import sparse
from scipy.linalg import lapack

from recommender.errors import ModelFitError
from recommender.models._params import Param, validate_params
from recommender.models.base import Recommender
from recommender.models.blas import blas_threads

_BLOCK = 2048


class EASERecommender(Recommender):
    """EASE: scores are a user's interactions times a learned items x items weight matrix."""

    name = "ease"
    cooccurrence_similar = True
    PARAMS: ClassVar[dict[str, Param]] = {
        "l2": Param(500.0, "L2 regularization added to the Gram matrix diagonal", low=1e-6),
        "binary": Param(True, "use 1 for every interaction instead of its confidence"),
        "max_items": Param(20_000, "largest catalog to fit (memory ~ n_items² x 8 bytes)", low=1),
        "num_threads": Param(0, "BLAS threads for the inverse, 0 = BLAS default", low=0),
    }

    def __init__(self, **params: Any) -> None:
        super().__init__(**validate_params(self.name, self.PARAMS, params))
        self.weights = np.zeros((0, 0), dtype=np.float32)

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        n_items = user_items.shape[1]
        limit = self.params["max_items"]
        if n_items > limit:
            raise ModelFitError(
                f"EASE needs a dense items x items matrix: {n_items:,} items > "
                f"max_items={limit:,}; use als or itemknn, or raise ease.max_items "
                f"(memory ~ n_items² x 8 bytes = {n_items**2 * 8 / 1e9:.1f} GB)"
            )
        x = self._input(user_items).astype(np.float64)
        gram = np.asarray((x.T @ x).todense(), dtype=np.float64)
        gram[np.diag_indices(n_items)] += self.params["l2"]
        with blas_threads(self.params["num_threads"] or None):
            precision = _spd_inverse(gram)
        precision /= -np.diag(precision)[None, :]
        precision[np.diag_indices(n_items)] = 0.0
        self.weights = precision.astype(np.float32)
        self.n_items = n_items
        self.fitted = True
        return self

    def _user_scores(self, userids: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(self._input(user_items) @ self.weights)

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        return self.weights[itemids]

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"weights": self.weights}

    def _from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.weights = arrays["weights"].astype(np.float32)

    def _input(self, user_items: sparse.csr_matrix) -> sparse.csr_matrix:
        matrix = sparse.csr_matrix(user_items, dtype=np.float32)
        return (matrix > 0).astype(np.float32) if self.params["binary"] else matrix


def _spd_inverse(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix by Cholesky, overwriting ``matrix``.

    ``matrix.T`` is the same matrix in Fortran order, so LAPACK works in place without a copy.
    """
    factor, info = lapack.dpotrf(matrix.T, lower=False, overwrite_a=True, clean=False)
    if info == 0:
        factor, info = lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ModelFitError(
            f"EASE: the regularized Gram matrix is not positive definite (LAPACK info={info}); "
            "raise ease.l2"
        )
    # dpotri fills the upper triangle only; mirror it, one block of columns at a time.
    n = len(factor)
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        factor[stop:, start:stop] = factor[start:stop, stop:].T
        block = factor[start:stop, start:stop]
        block[np.tril_indices(stop - start, -1)] = block.T[np.tril_indices(stop - start, -1)]
    return factor
