"""What one Spark partition of a publish does: write the lists of its users' batches to Redis.

The users travel one row each (id, bucket, position in the publish's order, factors, the items
and confidences of their training row, the items of their profile), ranged so that each
partition holds whole batches of the single-process publish: users in hash-bucket order, cut
every ``batch_users`` (``training.publish_lists.write_users``). A partition reads its rows in
Arrow blocks, puts each batch back together, and hands it to ``write_users`` with the model
restricted to the batch (its users' factors beside the broadcast item factors): the same
ranking, the same encoding (``storage.codec``: a list is padded to the longest of its batch, so
the batches must be the same) and the same writer (``storage.writer.NamespaceWriter``) as the
single-process publish, hence the same bytes. Scores exist for one batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recommender.config import RecsysConfig
from recommender.matrix import IdMap, Interactions
from recommender.models.base import Recommender
from recommender.precompute import ItemTable
from storage.connect import connect
from storage.keys import VersionKeys
from storage.writer import NamespaceWriter
from training.publish_lists import ranking_threads, write_users

RESULT_COLUMNS = "key string, users long"
"""What a partition answers: the keys it wrote (``users`` 0) and one row (``key`` null) with
the number of users it wrote."""


@dataclass(frozen=True)
class BlockJob:
    """Everything a partition needs besides its users: broadcast once to every executor."""

    redis_url: str
    version_keys: VersionKeys
    pending_seconds: int
    model: str
    params: dict[str, Any]
    item_factors: np.ndarray
    item_ids: np.ndarray
    table: ItemTable
    config: RecsysConfig
    top_n: int
    user_buckets: int
    batch_users: int

    def block_model(self, user_factors: np.ndarray) -> Recommender:
        """The model restricted to a block of users: their factors, every item's."""
        return Recommender.restore(self.model, self.params, {
            "user_factors": user_factors, "item_factors": self.item_factors},
            len(self.item_factors))


def _rows(lists: pd.Series, values: pd.Series | None, n_cols: int) -> sparse.csr_matrix:
    """A CSR matrix from per-row index arrays (and values; ones without)."""
    lengths = lists.map(len).to_numpy(dtype=np.int64)
    indptr = np.r_[0, np.cumsum(lengths)]
    n = int(indptr[-1])
    indices = np.concatenate(lists.to_list()).astype(np.int32) if n else np.zeros(0, np.int32)
    if values is None:
        data = np.ones(n, dtype=np.float32)
    else:
        data = np.concatenate(values.to_list()).astype(np.float32) if n else np.zeros(0, np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(lists), n_cols))


def batches(blocks: Iterator[pd.DataFrame], batch_users: int) -> Iterator[pd.DataFrame]:
    """The publish's batches of users (``order // batch_users``) from a partition's blocks, which
    hold them in order and may cut them anywhere."""
    pending: list[pd.DataFrame] = []
    current = None
    for block in blocks:
        for batch, rows in block.groupby(block["order"].to_numpy() // batch_users, sort=False):
            if pending and batch != current:
                yield pd.concat(pending, ignore_index=True)
                pending = []
            current = batch
            pending.append(rows)
    if pending:
        yield pd.concat(pending, ignore_index=True)


def write_batch(writer: NamespaceWriter, job: BlockJob, block: pd.DataFrame) -> int:
    """Rank, encode and write the lists and profiles of one batch of users; returns its size."""
    if block.empty:
        return 0
    n_model = len(job.item_ids)
    users = Interactions(
        matrix=_rows(block["seen"], block["confidence"], n_model),
        users=IdMap.from_ids(block["user_id"].to_numpy(dtype=object)),
        items=IdMap.from_ids(job.item_ids),
    )
    profile = _rows(block["profile"], None, n_model)
    model = job.block_model(np.stack(block["factors"].to_list()).astype(np.float32))
    with ranking_threads(model):
        write_users(writer, job.version_keys, model, users, job.table, profile, job.config,
                    job.top_n, lambda stage, done, total: None, job.batch_users,
                    user_buckets=job.user_buckets)
    return len(block)


def write_partition(job: BlockJob, blocks: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """``mapInPandas`` body: write every block of a partition through one connection."""
    client = connect(job.redis_url)
    written = 0
    try:
        with NamespaceWriter(client, job.version_keys, job.pending_seconds) as writer:
            for batch in batches(blocks, job.batch_users):
                written += write_batch(writer, job, batch)
    finally:
        client.close()
    keys = sorted(writer.keys)
    yield pd.DataFrame({"key": [*keys, None], "users": [0] * len(keys) + [written]})
