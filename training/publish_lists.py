"""The per-user and per-item lists of a publish: ranked by the model, encoded, written in buckets.

Seen items are dropped here, vectorized, rather than by the model: each batch asks the model for
``N`` plus the most candidates any user of the batch has seen, unfiltered, and removes the seen
ones afterwards. The result is the same as ``filter_already_liked_items=True`` (every user still
gets ``N`` unseen items where there are that many) without implicit's per-user Python loop,
which costs more than the ranking itself. The cost of ranking grows with the length asked for,
so users are grouped by how much they have seen (``SEEN_TIERS``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext

import numpy as np
from scipy import sparse

from recommender.config import RecsysConfig
from recommender.data.catalog import KINDS
from recommender.matrix import Interactions
from recommender.models.base import IdsAndScores, Recommender
from recommender.models.blas import blas_threads
from recommender.precompute import ItemTable, affinity, category_onehot
from storage.codec import encode_lists, encode_profiles
from storage.keys import VersionKeys, bucket_count, buckets_of
from storage.writer import NamespaceWriter

SEEN_TIERS = np.array([4, 12, 32])
"""Users are ranked in groups by how many candidates they have seen (<= 4, <= 12, <= 32, more):
each group asks the model for ``n`` plus its most seen, so long histories do not lengthen every
list (the model's ranking costs grow with the length asked for)."""
SLOT_LIST_N = 24
"""Length of the per-user slot lists: a push sends at most 20 items (``push_items``), a week of
daily 3-item pushes without repeats needs 21; a slot merge needs about ``n``. Longer lists cost
publish time (ranking) and memory for every user and push slot."""
DENSE_MASK_CELLS = 1 << 26
"""Up to this many batch x item cells, seen items are looked up in a dense boolean mask."""

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


class SeenItems:
    """The items each user of a batch has seen, for vectorized (row, item) lookups."""

    def __init__(self, user_items: sparse.csr_matrix) -> None:
        self.user_items = user_items
        n_rows, self.n_cols = user_items.shape
        self.owner = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(user_items.indptr))
        self._mask: np.ndarray | None = None
        self._keys: np.ndarray | None = None
        if n_rows * self.n_cols <= DENSE_MASK_CELLS:
            self._mask = np.zeros((n_rows, self.n_cols), dtype=bool)
            self._mask[self.owner, user_items.indices] = True
        else:
            self._keys = np.sort(self.owner * self.n_cols + user_items.indices)

    def counts(self, in_cand: np.ndarray) -> np.ndarray:
        """How many of the items flagged in ``in_cand`` each row has seen."""
        hit = in_cand[self.user_items.indices]
        return np.bincount(self.owner[hit], minlength=self.user_items.shape[0])

    def contains(self, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Whether row ``rows[r]`` has seen ``ids[r, j]`` (``-1`` ids count as unseen)."""
        valid = ids >= 0
        safe = np.where(valid, ids, 0)
        if self._mask is not None:
            return self._mask.reshape(-1).take(rows[:, None] * self.n_cols + safe) & valid
        assert self._keys is not None
        if not len(self._keys):
            return np.zeros(ids.shape, dtype=bool)
        query = rows[:, None] * self.n_cols + safe
        position = np.minimum(np.searchsorted(self._keys, query), len(self._keys) - 1)
        return (self._keys[position] == query) & valid


Asked = list[tuple[np.ndarray, np.ndarray, np.ndarray]]
"""What the model answered, per group of users: (their positions in the batch, ids, scores)."""


def rank_unseen(
    model: Recommender, rows: np.ndarray, seen: SeenItems, cand: np.ndarray, n: int
) -> IdsAndScores:
    """The top ``n`` candidates of each user that the user has not seen.

    ``rows`` are the users' indices in the model, ``seen`` their training rows, ``cand`` sorted
    item indices. Rows come back padded with ``-1`` / ``-inf`` where a user has fewer than ``n``
    unseen candidates. The two halves, ``ask_model`` and ``keep_unseen``, can run on different
    threads.
    """
    return keep_unseen(seen, n, ask_model(model, rows, seen, cand, n))


def ask_model(
    model: Recommender, rows: np.ndarray, seen: SeenItems, cand: np.ndarray, n: int
) -> Asked:
    """The model's unfiltered top ``n`` plus the most candidates any user of a group has seen."""
    in_cand = np.zeros(seen.n_cols, dtype=bool)
    in_cand[cand] = True
    counts = seen.counts(in_cand)
    tier = np.searchsorted(SEEN_TIERS, counts)
    asked = []
    for group in (np.flatnonzero(tier == t) for t in range(len(SEEN_TIERS) + 1)):
        if len(group):
            k = min(len(cand), n + int(counts[group].max()))
            asked.append((group, *model.recommend(rows[group], seen.user_items[group], N=k,
                                                  filter_already_liked_items=False, items=cand)))
    return asked


def keep_unseen(seen: SeenItems, n: int, asked: Asked) -> IdsAndScores:
    """The first ``n`` unseen items of each user's answer, padded with ``-1`` / ``-inf``."""
    n_rows = seen.user_items.shape[0]
    out_ids = np.full((n_rows, n), -1, dtype=np.int64)
    out_scores = np.full((n_rows, n), -np.inf, dtype=np.float32)
    for group, ids, scores in asked:
        keep = (ids >= 0) & ~seen.contains(group, ids)
        place = np.cumsum(keep, axis=1, dtype=np.int32) - 1  # where kept items land
        place = np.where(keep & (place < n), place, n)  # the others go to a spare column
        group_ids = np.full((len(group), n + 1), -1, dtype=np.int64)
        group_scores = np.full((len(group), n + 1), -np.inf, dtype=np.float32)
        np.put_along_axis(group_ids, place, ids, axis=1)
        np.put_along_axis(group_scores, place, scores, axis=1)
        out_ids[group], out_scores[group] = group_ids[:, :n], group_scores[:, :n]
    return out_ids, out_scores


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

    with Behind() as behind:
        for start in range(0, n_users, batch_users):
            rows = order[start : start + batch_users]
            user_items = train.matrix[rows]
            seen_batch = SeenItems(user_items)
            ranked = []
            for (what, kind, slot), cand in lists.items():
                n = min(top_n if what == "rec" else min(top_n, SLOT_LIST_N), len(cand))
                key_of = (lambda b, k=kind: vkeys.recs(k, b)) if what == "rec" else (
                    lambda b, k=kind, s=slot: vkeys.slot(k, s, b))
                ranked.append((key_of, n, ask_model(model, rows, seen_batch, cand, n)))
            profile = (*affinity(user_items, onehot), seen[rows])
            behind.submit(write, bucket[rows], ids_in_order[start : start + batch_users],
                          seen_batch, ranked, profile)
            report("users", min(start + batch_users, n_users), n_users)
    return buckets


class Behind:
    """Runs the filter-encode-write job of a batch on one worker thread while the next batch is
    ranked (implicit's ranking leaves a core partly idle); at most one job waits."""

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


def write_similar(
    writer: NamespaceWriter,
    vkeys: VersionKeys,
    model: Recommender,
    table: ItemTable,
    top_n: int,
    report: Progress,
    batch_items: int,
    key: Callable[[int], str] | None = None,
) -> int:
    """Per model item, the most similar available items of its kind, into ``key`` (default
    ``vkeys.similar``); returns the bucket count."""
    n_model, n_items = table.n_model, len(table)
    buckets = bucket_count(n_model)
    item_ids = table.frame["item_id"].array[:n_model]
    bucket = buckets_of(item_ids, buckets)
    kind = table.frame["kind"].to_numpy()[:n_model]
    done = 0
    for name in KINDS:
        cand = table.candidates(name)
        members = np.flatnonzero(kind == name)
        members = members[np.argsort(bucket[members], kind="stable")]
        if not len(cand) or not len(members):
            continue
        for start in range(0, len(members), batch_items):
            chunk = members[start : start + batch_items]
            ids, scores = model.similar_items(chunk, N=min(top_n, len(cand)), items=cand)
            fields = [item.encode() for item in np.asarray(item_ids.take(chunk), dtype=object)]
            writer.hset_buckets(key or vkeys.similar, bucket[chunk], fields,
                                encode_lists(ids, scores, n_items))
            done += len(chunk)
            report("items", done, n_model)
    return buckets
