"""``recsys publish --engine spark``: the per-user lists written to Redis from Spark partitions.

``training.publish.publish_version`` does the publish as always (namespace, similar items, the
tables, the manifest, then the single go-live in ``storage.writer.make_live``); only its per-user
part, the one that grows with the users, runs on Spark: ``SparkUserLists`` sends one row per user
(factors and training row) to the executors, ranged so that each partition holds whole batches of
the single-process publish (users in hash-bucket order, ``batch_users`` at a time), broadcasts the
item side once (item factors, item table, rules) and lets each partition write its users straight
into the namespace, one Redis connection per partition (``training.spark.blocks``). The lists are
byte for byte those of a single-process publish. A task Spark retries (or runs twice,
speculatively) writes the same fields again: HSET of the same bytes, no harm. Nothing is live
until every partition is done and ``make_live`` moves the pointer.

Matrix-factorization models only (``als``, ``bpr``): their users need nothing but their own
factors and training row. Executors need the ``recsys`` package (and reach Redis).
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
from pyspark.sql import SparkSession
from scipy import sparse

from recommender.config import RecsysConfig
from recommender.errors import ConfigError
from recommender.matrix import Interactions
from recommender.models.base import Recommender
from recommender.precompute import ItemTable
from storage.keys import VersionKeys, bucket_count, buckets_of
from storage.writer import NamespaceWriter
from training.publish_lists import Progress
from training.spark.blocks import RESULT_COLUMNS, BlockJob, write_partition

USERS_PER_PARTITION = 100_000
"""Users per Spark partition (at least one partition per core); a partition ranks them one
publish batch (``batch_users``, 8192) at a time."""
FACTOR_ARRAYS = {"user_factors", "item_factors"}


def factor_arrays(model: Recommender) -> dict[str, np.ndarray]:
    """The user and item factors of a matrix-factorization model; a ``ConfigError`` for others."""
    arrays = model._arrays()
    if set(arrays) != FACTOR_ARRAYS:
        raise ConfigError(
            f"a {model.name!r} model cannot be published on Spark: only matrix-factorization "
            "models (als, bpr) are; publish it on one machine (the default engine)"
        )
    return arrays


def list_arrays(matrix: sparse.csr_matrix, rows: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """The column indices and values of ``rows`` of ``matrix`` as Arrow list arrays."""
    part = matrix[rows]
    offsets = pa.array(part.indptr.astype(np.int32))
    indices = pa.ListArray.from_arrays(offsets, pa.array(part.indices.astype(np.int32)))
    values = pa.ListArray.from_arrays(offsets, pa.array(part.data.astype(np.float32)))
    return indices, values


def user_table(
    train: Interactions, seen: sparse.csr_matrix, user_factors: np.ndarray, buckets: int,
    batch_users: int,
) -> pa.Table:
    """One row per user, in the order the single-process publish writes them (by bucket), with
    the batch of ``batch_users`` it is written in."""
    ids = train.users.index.array
    bucket = buckets_of(ids, buckets)
    order = np.argsort(bucket, kind="stable")
    rank = user_factors.shape[1]
    flat = pa.array(np.ascontiguousarray(user_factors[order], dtype=np.float32).ravel())
    offsets = pa.array(np.arange(0, (len(order) + 1) * rank, rank, dtype=np.int32))
    matrix = sparse.csr_matrix(train.matrix, dtype=np.float32)
    indices, values = list_arrays(matrix, order)
    profile, _ = list_arrays(sparse.csr_matrix(seen), order)
    return pa.table({
        "user_id": pa.array(np.asarray(ids.take(order), dtype=object), type=pa.string()),
        "bucket": pa.array(bucket[order]),
        "order": pa.array(np.arange(len(order), dtype=np.int64)),
        "batch": pa.array(np.arange(len(order), dtype=np.int64) // batch_users),
        "factors": pa.ListArray.from_arrays(offsets, flat),
        "seen": indices,
        "confidence": values,
        "profile": profile,
    })


class SparkUserLists:
    """``training.publish_lists.UserLists`` writing from Spark partitions (see the module doc).

    Parameters
    ----------
    spark : SparkSession
        Where to rank.
    redis_url : str
        The Redis (``redis://``) or Redis Cluster (``redis+cluster://``) the executors write to:
        the one ``publish_version``'s client is connected to.
    partitions : int, optional
        Spark partitions of the users; default one per ``USERS_PER_PARTITION`` users, at least
        one per core.
    """

    def __init__(self, spark: SparkSession, redis_url: str, partitions: int | None = None) -> None:
        self.spark = spark
        self.redis_url = redis_url
        self.partitions = partitions
        self.users_written = 0

    def __call__(
        self,
        writer: NamespaceWriter,
        vkeys: VersionKeys,
        model: Recommender,
        train: Interactions,
        table: ItemTable,
        seen: sparse.csr_matrix,
        config: RecsysConfig,
        top_n: int,
        report: Progress,
        batch_users: int,
    ) -> int:
        arrays = factor_arrays(model)
        n_users = len(train.users)
        buckets = bucket_count(n_users)
        job = BlockJob(
            redis_url=self.redis_url, version_keys=vkeys,
            pending_seconds=int(writer.pending), model=model.name,
            params={**model.params, "num_threads": 1},  # Spark runs a task per core
            item_factors=arrays["item_factors"], item_ids=train.items.ids.astype(str),
            table=table, config=config, top_n=top_n, user_buckets=buckets,
            batch_users=batch_users,
        )
        partitions = self.partitions or max(self.spark.sparkContext.defaultParallelism,
                                            math.ceil(n_users / USERS_PER_PARTITION))
        report("users", 0, n_users)
        users = self.spark.createDataFrame(
            user_table(train, seen, arrays["user_factors"], buckets, batch_users))
        shared = self.spark.sparkContext.broadcast(job)
        try:
            ranged = users.repartitionByRange(partitions, "batch").sortWithinPartitions("order")
            result = ranged.mapInPandas(
                lambda blocks: write_partition(shared.value, blocks), RESULT_COLUMNS
            ).toPandas()
        finally:
            shared.destroy()
        written = result["key"].dropna()
        writer.keys.update(written.tolist())
        self.users_written = int(result["users"].sum())
        if self.users_written != n_users:
            raise RuntimeError(f"the partitions wrote {self.users_written:,} users of {n_users:,}")
        report("users", n_users, n_users)
        return buckets
