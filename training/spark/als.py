"""ALS fitted with Spark MLlib, saved as the ``als`` model it is equivalent to.

``recommender.models.ALSRecommender`` fits implicit on confidences ``1 + alpha * r`` (``r`` the
weighted, time-decayed matrix value); Spark's implicit-preference ALS gets the same ``r`` as its
rating and the same ``alpha``, and its confidence is ``1 + alpha * |r|`` with preference
``r > 0``: the same confidences and preferences. The only difference is the L2 penalty.
implicit adds ``regularization`` (``λ``) to every user's and item's normal equations; Spark
adds ``regParam * n`` (ALS-WR), ``n`` the user's (item's) number of ratings, one ``regParam``
for both sides. ``reg_param`` maps one to the other in two steps:

- Only the product of the two sides' penalties matters: ``X -> cX, Y -> Y/c`` leaves the scores
  ``X Yᵀ`` alone and turns penalties ``(a, b)`` into ``(a c², b / c²)``. So ``regParam`` matches
  ``λ`` at a typical user's ``n_u`` and a typical item's ``n_i`` when ``regParam * sqrt(n_u n_i)
  = λ``, whatever the two sides' counts.
- The typical count is the one a rating sees, ``Σ n² / Σ n``, not the one a user (item) sees,
  ``nnz / users``: the factors' squared norms grow with ``n`` (in implicit's own fit on ml-100k,
  ``|x|² ~ n^0.95..1.08``, correlation 0.88-0.99 in log-log), so Spark's total penalty
  ``regParam Σ n |x|²`` equals implicit's ``λ Σ |x|²`` at ``regParam = λ Σ n / Σ n²``.

Hence ``regParam = λ nnz / sqrt(Σ_u n_u² Σ_i n_i²)``. On ml-100k's split (943 x 1,643, 74,992
ratings) that is 0.1082 for ``λ`` 15, against 0.1014 (30-day half-life) and 0.1136 (none) that
equate the two penalties at implicit's fitted factors; Spark and implicit then agree within
0.007 with and without time decay (``benchmarks/bench_spark.py``, ``docs/scaling.md``). Matching
at the average user (``λ users / nnz`` = 0.1886, the earlier mapping) over-penalizes: -0.009
with the half-life, +0.027 without.

The factors Spark learns are stored in an ``ALSRecommender``: the saved model is an ordinary
``als`` model (``Recommender.save``), so ``recsys publish``, ``ab offline`` and the notebooks load
it as they load any other.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np
import pandas as pd
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, SparkSession
from scipy import sparse

from recommender.models import ALSRecommender

USER, ITEM, RATING = "user", "item", "rating"


def reg_param(regularization: float, matrix: sparse.spmatrix) -> float:
    """Spark's ``regParam`` equivalent to implicit's ``regularization`` for ``matrix``.

    Spark multiplies ``regParam`` by a user's (item's) number of ratings ``n``; implicit's
    penalty is flat. Matched at the count a rating sees on each side (``Σ n² / Σ n``), combined
    by their geometric mean (only the product of the two sides' penalties changes the scores):
    ``regularization * nnz / sqrt(Σ_u n_u² * Σ_i n_i²)``. The module docstring derives it. Cells
    of 0 or less are no ratings (Spark never sees them, ``ratings_frame``).
    """
    rated = sparse.csr_matrix(matrix) > 0
    per_user = np.asarray(rated.sum(axis=1), dtype=np.float64).ravel()
    per_item = np.asarray(rated.sum(axis=0), dtype=np.float64).ravel()
    nnz = per_user.sum()
    if not nnz:
        return float(regularization)
    return float(regularization) * nnz / float(np.sqrt(per_user @ per_user * (per_item @ per_item)))


def ratings_frame(spark: SparkSession, matrix: sparse.spmatrix) -> DataFrame:
    """The non-zero cells of ``matrix`` as a Spark frame of (user, item, rating) indices."""
    coo = sparse.coo_matrix(matrix)
    keep = coo.data > 0
    frame = pd.DataFrame({
        USER: coo.row[keep].astype(np.int32),
        ITEM: coo.col[keep].astype(np.int32),
        RATING: coo.data[keep].astype(np.float32),
    })
    return spark.createDataFrame(frame)


def spark_als(params: dict[str, Any], regularization: float, blocks: int) -> ALS:
    """The Spark estimator of an ``als`` model's ``params`` (``ALSRecommender.PARAMS``)."""
    return ALS(
        rank=int(params["factors"]), maxIter=int(params["iterations"]), regParam=regularization,
        alpha=float(params["alpha"]), implicitPrefs=True, seed=int(params["random_state"]),
        userCol=USER, itemCol=ITEM, ratingCol=RATING, nonnegative=False,
        numUserBlocks=blocks, numItemBlocks=blocks,
    )


def factors(model: ALSModel, side: str, rows: int, rank: int) -> np.ndarray:
    """The ``side`` (``user`` or ``item``) factors of a fitted model as a dense float32 array;
    rows Spark never saw (no rating above 0) stay 0, as implicit leaves them."""
    frame = (model.userFactors if side == USER else model.itemFactors).toPandas()
    out = np.zeros((rows, rank), dtype=np.float32)
    if len(frame):
        out[frame["id"].to_numpy()] = np.stack(frame["features"].to_numpy()).astype(np.float32)
    return out


class SparkALS(ALSRecommender):
    """``ALSRecommender`` whose ``fit`` runs on Spark; everything else (ranking, saving) is the
    ``als`` model's. Not registered under a name of its own: it saves, and loads, as ``als``.

    Parameters
    ----------
    spark : SparkSession
        Where to fit.
    **params
        ``als`` parameters (``ALSRecommender.PARAMS``); ``regularization`` is implicit's, mapped
        with ``reg_param``. ``num_threads`` only matters for ranking (Spark fits with its cores).
    """

    def __init__(self, spark: SparkSession, **params: Any) -> None:
        super().__init__(**params)
        self.spark = spark
        self.spark_params: dict[str, float] = {}

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        matrix = sparse.csr_matrix(user_items, dtype=np.float32)
        n_users, n_items = matrix.shape
        regularization = reg_param(self.params["regularization"], matrix)
        blocks = max(2, self.spark.sparkContext.defaultParallelism)
        ratings = ratings_frame(self.spark, matrix).cache()
        try:
            fitted = spark_als(self.params, regularization, blocks).fit(ratings)
            rank = int(self.params["factors"])
            arrays = {"user_factors": factors(fitted, USER, n_users, rank),
                      "item_factors": factors(fitted, ITEM, n_items, rank)}
        finally:
            ratings.unpersist()
        self._from_arrays(arrays)
        self.spark_params = {"regParam": regularization, "blocks": blocks}
        self.n_items = n_items
        self.fitted = True
        return self
