"""ALS fitted with Spark MLlib, saved as the ``als`` model it is equivalent to.

``recommender.models.ALSRecommender`` fits implicit on confidences ``1 + alpha * r`` (``r`` the
weighted, time-decayed matrix value); Spark's implicit-preference ALS gets the same ``r`` as its
rating and the same ``alpha``, and its confidence is ``1 + alpha * |r|`` with preference
``r > 0``: the same confidences and preferences. The only difference is the L2 penalty. implicit
adds ``regularization`` to every user's and item's normal equations; Spark's ``regParam`` is
scaled by each user's (item's) number of ratings (ALS-WR). ``reg_param`` maps one to the other at
the average user: ``regParam = regularization * users / nonzeros``. With that, Spark and implicit
agree on ml-100k with the 30-day half-life (``benchmarks/bench_spark.py``, ``docs/scaling.md``);
without decay Spark scores 0.027 above implicit there, and 0.03 above it on the power-law events
of the training benchmark. Undecayed, implicit's best ``regularization`` on validation is 30, not
15; compared there (Spark given the mapped 0.377) Spark is 0.014 below.

Matching at the counts a rating sees instead (``regularization * nonzeros / sqrt(Σ n_u² Σ n_i²)``,
tried on 2026-11-30) closes the ml-100k gap in both settings (-0.001, +0.005) but collapses on
skewed data: on the 2M power-law events the heavy users and items make it 0.0046 against 2.40
here, and Spark's test nDCG@10 fell to 0.086 against implicit's 0.292. The average user is kept:
it is the mapping that holds up across the data sets measured.

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
    """Spark's ``regParam`` equivalent to implicit's ``regularization`` for ``matrix``: Spark
    multiplies it by a user's number of ratings, so it is divided here by the average one."""
    per_user = matrix.nnz / max(matrix.shape[0], 1)
    return float(regularization) / per_user if per_user else float(regularization)


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
