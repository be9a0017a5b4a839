"""Ranking a batch of users for publish: each user's top candidates, seen items dropped.

Seen items are dropped here, vectorized, rather than by the model: each batch asks the model for
``N`` plus the most candidates any user of the batch has seen, unfiltered, and removes the seen
ones afterwards. The result is the same as ``filter_already_liked_items=True`` (every user still
gets ``N`` unseen items where there are that many) without implicit's per-user Python loop,
which costs more than the ranking itself. The cost of ranking grows with the length asked for,
so users are grouped by how much they have seen (``SEEN_TIERS``).

A factor model (ALS, BPR) is asked with its candidates in popularity order (``Ranker``):
implicit's top-k keeps a heap of the best ``k`` met so far, and items likely to rank high coming
first leave few later ones to push into it. On ``bench_publish``'s shop (ALS, 100k users x 5k
items) that took the five lists' ranking from about 90 to 52 µs a user on one thread (product
38 -> 22 µs, content 23 -> 14, each slot list 9.5 -> 5.5); publish's ranking, 8.4 -> 5.2 CPU
seconds. The lists are the same bytes: the scores are the same products, and where equal scores
make the order depend on where the items were met, the order of the items' own indices is put
back (``Ranker.ask``).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from implicit.cpu.topk import topk
from scipy import sparse

from recommender.models.base import IdsAndScores, Recommender

SEEN_TIERS = np.array([4, 12, 32])
"""Users are ranked in groups by how many candidates they have seen (<= 4, <= 12, <= 32, more):
each group asks the model for ``n`` plus its most seen, so long histories do not lengthen every
list (the model's ranking costs grow with the length asked for)."""
DENSE_MASK_CELLS = 1 << 26
"""Up to this many batch x item cells, seen items are looked up in a dense boolean mask."""
TOPK_ROWS = 100
"""Users implicit's top-k (``implicit.cpu.topk``) scores in one matrix product: a user whose list
is ranked again in index order is ranked with the same neighbours, so that BLAS computes the same
scores to the last bit."""
FACTOR_ARRAYS = {"user_factors", "item_factors"}
Answer = Callable[[], IdsAndScores]
"""A ranking asked for: calling it waits for the (ids, scores)."""
PART_ROWS = 10 * TOPK_ROWS
"""Users a ranking thread takes at a time: few enough that the threads finish a batch together,
whole top-k batches so that each user is scored as in a ranking of the whole group."""


class SeenItems:
    """The items each user of a batch has seen, for vectorized (row, item) lookups.

    The lookup table is built on the first ``contains``: publish ranks on one thread and looks
    up on another (the writer's), so building it there keeps it off the ranking thread.
    """

    def __init__(self, user_items: sparse.csr_matrix) -> None:
        self.user_items = user_items
        self.n_cols = user_items.shape[1]
        self.owner = np.repeat(np.arange(user_items.shape[0], dtype=np.int64),
                               np.diff(user_items.indptr))
        self._mask: np.ndarray | None = None
        self._keys: np.ndarray | None = None

    def counts(self, in_cand: np.ndarray) -> np.ndarray:
        """How many of the items flagged in ``in_cand`` each row has seen."""
        hit = in_cand[self.user_items.indices]
        return np.bincount(self.owner[hit], minlength=self.user_items.shape[0])

    def contains(self, rows: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """Whether row ``rows[r]`` has seen ``ids[r, j]`` (``-1`` ids count as unseen)."""
        valid = ids >= 0
        safe = np.where(valid, ids, 0)
        query = rows[:, None] * self.n_cols + safe
        if self._mask is None and self._keys is None:
            self._index()
        if self._mask is not None:
            return self._mask.reshape(-1).take(query) & valid
        assert self._keys is not None
        if not len(self._keys):
            return np.zeros(ids.shape, dtype=bool)
        position = np.minimum(np.searchsorted(self._keys, query), len(self._keys) - 1)
        return (self._keys[position] == query) & valid

    def _index(self) -> None:
        """A dense boolean mask up to ``DENSE_MASK_CELLS`` cells, else sorted (row, item) keys."""
        n_rows = self.user_items.shape[0]
        if n_rows * self.n_cols <= DENSE_MASK_CELLS:
            self._mask = np.zeros((n_rows, self.n_cols), dtype=bool)
            self._mask[self.owner, self.user_items.indices] = True
        else:
            self._keys = np.sort(self.owner * self.n_cols + self.user_items.indices)


class Ranker:
    """Asks ``model`` for users' unfiltered top candidates: a factor model (ALS, BPR) with its
    candidates in ``popularity`` order on ``threads`` threads (see the module doc), others
    through their ``recommend``.

    A factor model's users are ranked with implicit's top-k directly, not through the model's
    ``recommend``: that skips the per-call copies of the candidates' factors and of the answer
    (64 -> 60 µs a user for the five lists of ``bench_publish``'s shop, one thread) and lets the
    work be cut in parts of ``PART_ROWS`` users that the threads take as they are free. They are
    Python threads, each running the top-k on one thread, rather than implicit's OpenMP
    threads: between two of publish's many short rankings OpenMP's idle threads spin, and on
    ``bench_publish`` they burnt 3 of publish's 11.5 CPU seconds that its writer thread needed
    (``OMP_WAIT_POLICY=passive`` gave them back). Use it as a context manager (it holds the
    threads).
    """

    def __init__(self, model: Recommender, popularity: np.ndarray, threads: int) -> None:
        self.model = model
        self._factors: tuple[np.ndarray, np.ndarray] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._prepared: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
        arrays = {} if type(model).recommend is Recommender.recommend else model._arrays()
        if set(arrays) == FACTOR_ARRAYS:
            self._factors = arrays["user_factors"], arrays["item_factors"]
            self._rank = np.argsort(np.argsort(-popularity, kind="stable"))
            if threads > 1:
                self._pool = ThreadPoolExecutor(threads, thread_name_prefix="publish-rank")

    def __enter__(self) -> Ranker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def ask(self, seen: SeenItems, rows: np.ndarray, group: np.ndarray, cand: np.ndarray,
            k: int) -> Answer:
        """The model's top ``k`` of ``cand`` (sorted item indices) for the users at positions
        ``group`` of a batch (``rows``: their indices in the model; ``seen``: their training
        rows). A factor model's ranking is queued on the threads; the answer waits for it.

        Equal scores are where the order of the items matters: implicit's heap puts the item it
        met later first, so within the list equal scores are put back in descending index
        order; and a user whose ``k``-th score equals the next one is ranked again in index
        order by the model itself. On ``bench_publish``'s shop, 86 of its 500,000 users' lists
        had equal scores within and 2 at their end.
        """
        users = rows[group]
        if self._factors is None:
            answer = self.model.recommend(users, seen.user_items[group], N=k,
                                          filter_already_liked_items=False, items=cand)
            return lambda: answer
        deeper = min(k + 1, len(cand))
        by_popularity, item_factors = self._candidates(cand)
        ranked = self._topk(item_factors, users, deeper)

        def answer() -> IdsAndScores:
            found, scores = ranked()
            ids = by_popularity.take(found)
            edge = scores[:, k - 1] == scores[:, k] if deeper > k else np.zeros(len(users), bool)
            ids, scores = ids[:, :k], scores[:, :k]
            tied = scores[:, 1:] == scores[:, :-1]
            for row in np.flatnonzero(tied.any(axis=1)).tolist():
                order = np.lexsort((-ids[row], -scores[row]))
                ids[row], scores[row] = ids[row, order], scores[row, order]
            for start in np.unique(np.flatnonzero(edge) // TOPK_ROWS * TOPK_ROWS).tolist():
                again = users[start : start + TOPK_ROWS]
                empty = sparse.csr_matrix((len(again), self.model.n_items), dtype=np.float32)
                ids[start : start + len(again)], scores[start : start + len(again)] = (
                    self.model.recommend(again, empty, N=k, filter_already_liked_items=False,
                                         items=cand))
            return ids, scores

        return answer

    def _candidates(self, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``cand`` in popularity order and their factors (kept: publish asks for the same few
        candidate lists batch after batch)."""
        key = cand.tobytes()
        if key not in self._prepared:
            assert self._factors is not None
            by_popularity = cand[np.argsort(self._rank[cand], kind="stable")]
            self._prepared[key] = by_popularity, self._factors[1][by_popularity]
        return self._prepared[key]

    def _topk(self, item_factors: np.ndarray, users: np.ndarray, k: int) -> Answer:
        """implicit's top ``k`` of ``item_factors`` for ``users``, in parts queued on the
        threads (computed at once without them)."""
        assert self._factors is not None
        user_factors = self._factors[0]
        ids = np.empty((len(users), k), dtype=np.int32)
        scores = np.empty((len(users), k), dtype=user_factors.dtype)

        def part(start: int) -> None:
            some = users[start : start + PART_ROWS]
            found = topk(item_factors, user_factors[some], k, num_threads=1)
            ids[start : start + len(some)], scores[start : start + len(some)] = found

        starts = range(0, len(users), PART_ROWS)
        if self._pool is None:
            for start in starts:
                part(start)
            return lambda: (ids, scores)
        parts = [self._pool.submit(part, start) for start in starts]

        def ranked() -> IdsAndScores:
            for future in parts:
                future.result()
            return ids, scores

        return ranked


Asked = list[tuple[np.ndarray, Answer]]
"""What the model was asked, per group of users: (their positions in the batch, the answer)."""


def ask_model(
    ranker: Ranker, rows: np.ndarray, seen: SeenItems, cand: np.ndarray, n: int
) -> Asked:
    """The model's unfiltered top ``n`` plus the most candidates any user of a group has seen,
    asked for (``Ranker.ask``)."""
    in_cand = np.zeros(seen.n_cols, dtype=bool)
    in_cand[cand] = True
    counts = seen.counts(in_cand)
    tier = np.searchsorted(SEEN_TIERS, counts)
    asked = []
    for group in (np.flatnonzero(tier == t) for t in range(len(SEEN_TIERS) + 1)):
        if len(group):
            k = min(len(cand), n + int(counts[group].max()))
            asked.append((group, ranker.ask(seen, rows, group, cand, k)))
    return asked


def keep_unseen(seen: SeenItems, n: int, asked: Asked) -> IdsAndScores:
    """The first ``n`` unseen items of each user's answer, padded with ``-1`` / ``-inf``.

    Each kept item is scattered to its place in the output (the others to a spare column) in
    one flat write per group. Waits for the answers: it runs on the writer's thread while the
    ranking threads go on with the next batch.
    """
    n_rows, width = seen.user_items.shape[0], n + 1
    out_ids = np.full((n_rows, width), -1, dtype=np.int64)
    out_scores = np.full((n_rows, width), -np.inf, dtype=np.float32)
    for group, answer in asked:
        ids, scores = answer()
        keep = ~seen.contains(group, ids) & (ids >= 0)
        place = np.cumsum(keep, axis=1)  # 1 + where each kept item lands in its row
        place[~keep | (place > n)] = width
        place += (group * width - 1)[:, None]
        out_ids.reshape(-1)[place] = ids
        out_scores.reshape(-1)[place] = scores
    return out_ids[:, :n], out_scores[:, :n]
