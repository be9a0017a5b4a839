"""The per-user and per-item lists of a publish: ranked by the model (``training.publish_ranking``),
encoded, written in buckets."""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

import numpy as np
from scipy import sparse

from recommender.config import RecsysConfig
from recommender.data.catalog import KINDS
from recommender.matrix import Interactions
from recommender.models.base import Recommender
from recommender.models.blas import blas_threads
from recommender.precompute import ItemTable, affinity, category_onehot
from storage.codec import encode_lists, encode_profiles
from storage.keys import VersionKeys, bucket_count, buckets_of
from storage.writer import NamespaceWriter
from training.publish_ranking import Asked, Ranker, SeenItems, ask_model, keep_unseen

SLOT_LIST_N = 24
"""Length of the per-user slot lists: a push sends at most 20 items (``push_items``), a week of
daily 3-item pushes without repeats needs 21; a slot merge needs about ``n``. Longer lists cost
publish time (ranking) and memory for every user and push slot."""

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``; stages: ``users``, ``items``, ``tables``, ``live``."""
UserLists = Callable[
    [NamespaceWriter, VersionKeys, Recommender, Interactions, ItemTable, sparse.csr_matrix,
     RecsysConfig, int, Progress, int],
    int,
]
"""What writes the per-user lists of a publish (``write_users``'s signature): ``write_users``
itself, or ``training.spark.publish.SparkUserLists``, which writes them from Spark partitions."""


def slot_candidates(table: ItemTable, config: RecsysConfig) -> dict[tuple[str, str], np.ndarray]:
    """(kind, push slot) -> the model's available slot items of that kind, where there are any."""
    out = {}
    for slot in config.rules.slots:
        if not slot.push:
            continue
        for kind in KINDS:
            cand = table.candidates(kind, table.slot_masks[slot.name])
            if len(cand):
                out[(kind, slot.name)] = cand
    return out


def ranking_threads(model: Recommender) -> AbstractContextManager[object]:
    """BLAS limited to one thread while a model with its own batched ``recommend`` ranks.

    Such models (implicit's) already rank users in parallel; multi-threaded BLAS inside each of
    their small batches oversubscribes the cores (2-4x slower, as implicit warns). Models using
    the base class's ranking do one large product per batch and keep BLAS threads.
    """
    if type(model).recommend is Recommender.recommend:
        return nullcontext()
    return blas_threads(1)


def write_users(
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
    user_buckets: int | None = None,
) -> int:
    """Per-user lists and profiles, in bucket order; returns the number of user buckets.

    ``user_buckets`` is the version's bucket count when ``train`` holds only some of its users
    (a block of a publish on Spark, ``training.spark``); by default ``train`` is every user.
    """
    n_users, n_items = len(train.users), len(table)
    buckets = bucket_count(n_users) if user_buckets is None else user_buckets
    user_ids = train.users.index.array
    bucket = buckets_of(user_ids, buckets)
    order = np.argsort(bucket, kind="stable")
    kinds = {kind: table.candidates(kind) for kind in KINDS}
    lists = {("rec", kind, ""): cand for kind, cand in kinds.items() if len(cand)}
    lists.update({("slot", kind, slot): cand
                  for (kind, slot), cand in slot_candidates(table, config).items()})
    onehot = category_onehot(table)
    ids_in_order = np.asarray(user_ids.take(order), dtype=object)

    def write(run: np.ndarray, users: np.ndarray, seen_batch: SeenItems,
              ranked: list[tuple[Callable[[int], str], int, Asked]],
              profile: tuple[np.ndarray, np.ndarray, sparse.csr_matrix]) -> None:
        fields = [user.encode() for user in users.tolist()]
        for key_of, n, asked in ranked:
            ids, scores = keep_unseen(seen_batch, n, asked)
            writer.hset_buckets(key_of, run, fields, encode_lists(ids, scores, n_items))
        writer.hset_buckets(vkeys.profile, run, fields, encode_profiles(*profile, n_items))

    popularity = table.frame["events"].to_numpy()[: table.n_model]
    threads = model.params.get("num_threads") or os.cpu_count() or 1
    with Ranker(model, popularity, threads) as ranker, Behind() as behind:
        for start in range(0, n_users, batch_users):
            rows = order[start : start + batch_users]
            user_items = train.matrix[rows]
            seen_batch = SeenItems(user_items)
            ranked = []
            for (what, kind, slot), cand in lists.items():
                n = min(top_n if what == "rec" else min(top_n, SLOT_LIST_N), len(cand))
                key_of = (lambda b, k=kind: vkeys.recs(k, b)) if what == "rec" else (
                    lambda b, k=kind, s=slot: vkeys.slot(k, s, b))
                ranked.append((key_of, n, ask_model(ranker, rows, seen_batch, cand, n)))
            profile = (*affinity(user_items, onehot), seen[rows])
            behind.submit(write, bucket[rows], ids_in_order[start : start + batch_users],
                          seen_batch, ranked, profile)
            report("users", min(start + batch_users, n_users), n_users)
    return buckets


class Behind:
    """Runs the filter-encode-write job of a batch on one worker thread: it waits for the
    batch's rankings (``Ranker.ask``) while the next batch's are queued; at most one job waits."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="publish-writer")
        self._pending: Future[None] | None = None

    def submit(self, job: Callable[..., None], *args: object) -> None:
        self._wait()  # surfaces a failed write and bounds the memory held by queued batches
        self._pending = self._pool.submit(job, *args)

    def _wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()

    def __enter__(self) -> Behind:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        try:
            if kind is None:
                self._wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


ItemLists = list[tuple[np.ndarray, list[bytes], list[bytes]]]
"""Encoded per-item lists, runs of items in bucket order: (buckets, item ids, encoded lists)."""


def similar_lists(model: Recommender, table: ItemTable, n: int, batch_items: int) -> ItemLists:
    """Per model item, the ``n`` most similar available items of its kind, encoded."""
    n_model, n_items = table.n_model, len(table)
    item_ids = table.frame["item_id"].array[:n_model]
    bucket = buckets_of(item_ids, bucket_count(n_model))
    kind = table.frame["kind"].to_numpy()[:n_model]
    lists = []
    for name in KINDS:
        cand = table.candidates(name)
        members = np.flatnonzero(kind == name)
        members = members[np.argsort(bucket[members], kind="stable")]
        if not len(cand) or not len(members):
            continue
        for start in range(0, len(members), batch_items):
            chunk = members[start : start + batch_items]
            ids, scores = model.similar_items(chunk, N=min(n, len(cand)), items=cand)
            fields = [item.encode() for item in np.asarray(item_ids.take(chunk), dtype=object)]
            lists.append((bucket[chunk], fields, encode_lists(ids, scores, n_items)))
    return lists


def write_items(writer: NamespaceWriter, key_of: Callable[[int], str], lists: ItemLists,
                report: Progress, n_model: int) -> None:
    """Write ``similar_lists``' lists into the hashes ``key_of(bucket)``."""
    done = 0
    for buckets, fields, values in lists:
        writer.hset_buckets(key_of, buckets, fields, values)
        done += len(fields)
        report("items", done, n_model)
