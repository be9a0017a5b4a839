"""The replay protocol: what live events are worth, measured on the ranking serving runs.

Events are cut in time at the ``ratio`` quantile (as the temporal split; here the users who
first come after the cut are tested too, as new users). Each test user's first ``reveal``
test events of weight > 0 are *revealed*: they play the live events the user sends after the
publish. Their other test items are relevant, except what the user has already seen (train or
revealed) unless it is repeatable, as in ``prepare``. A seeded ``cold_share`` of the test users
is treated as new: their train events are hidden, so the model does not know them (users with
no train events are new anyway). Each model M is fitted on the train part and scored twice:

- ``M``: the published lists alone: a known user's top items (seen ones left out), popular for
  a new user (``recommender.precompute.popular_lists``' score: total confidence);
- ``M+live``: what the API answers after the revealed events, with the same functions serving
  runs (``recommender.realtime``): live items left out unless repeatable, the session ranking
  from the similar items publish writes for it (``recommender.models.session``), fused with
  the user's list (``session_weight``) or with popular
  fused with trending (``new_user_weight``); trending counts the train events of the last
  ``trending_hours`` before the cut.

It does not replay slots, categories, kinds or new items: every item competes in one list.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse

from recommender import realtime
from recommender.config import DEFAULT_WEIGHTS, RealtimeConfig
from recommender.errors import ConfigError
from recommender.evaluation.dataset import positions, repeatable_mask
from recommender.evaluation.metrics import per_user_metrics, summarize
from recommender.evaluation.runner import top_unseen
from recommender.evaluation.splits import check_ratio
from recommender.matrix import EncodedEvents, Interactions
from recommender.models.base import Recommender

GROUPS = ("cold", "warm")


@dataclass(frozen=True)
class ReplayData:
    """The train part and, per evaluated user, what was revealed and what is relevant.

    ``rows`` are the users' rows in ``train`` (``-1``: new to the model); ``revealed`` their
    revealed items (train item indices, oldest first; items the model never saw are left
    out); ``relevant`` a binary CSR matrix, one row per user, columns the train items then one
    per relevant item the model never saw; ``cold`` marks the new users.
    """

    train: Interactions
    user_ids: np.ndarray
    rows: np.ndarray
    revealed: list[list[int]]
    relevant: sparse.csr_matrix
    cold: np.ndarray
    repeatable: np.ndarray
    trending: list[int]
    summary: dict[str, Any]


@dataclass(frozen=True)
class ReplayResult:
    """Per list (``als``, ``als+live``): metrics over all users and per group (``cold``,
    ``warm``); the users of each group."""

    metrics: dict[str, dict[str, float]]
    groups: dict[str, dict[str, dict[str, float]]]
    users: dict[str, int]
    errors: dict[str, str]


def prepare_replay(
    events: pd.DataFrame | EncodedEvents,
    reveal: int,
    cold_share: float = 0.0,
    ratio: float = 0.8,
    seed: int = 42,
    weights: Mapping[str, float] | None = None,
    half_life_days: float = 0.0,
    repeatable_items: Collection[str] = (),
    config: RealtimeConfig | None = None,
) -> ReplayData:
    """Cut, reveal and hide as the module docstring says."""
    if reveal < 1:
        raise ConfigError(f"--reveal must be at least 1, got {reveal}")
    if not 0.0 <= cold_share <= 1.0:
        raise ConfigError(f"--cold-share must be between 0 and 1, got {cold_share}")
    config = config or RealtimeConfig()
    encoded = events if isinstance(events, EncodedEvents) else EncodedEvents.from_frame(events)
    weights = DEFAULT_WEIGHTS if weights is None else weights
    positive = encoded.weights(weights) > 0
    check_ratio(ratio)
    train_rows = encoded.seconds < np.quantile(encoded.seconds, ratio)
    test_rows = ~train_rows  # new users' events too: they are the visitors real time serves
    test = np.flatnonzero(test_rows & positive)
    test = test[np.lexsort((encoded.seconds[test], encoded.users[test]))]
    users, starts = np.unique(encoded.users[test], return_index=True)
    ends = np.append(starts[1:], len(test))
    rng = np.random.default_rng(seed)
    hidden = users[rng.random(len(users)) < cold_share]
    train_rows = train_rows & ~np.isin(encoded.users, hidden)
    cut = float(encoded.seconds[train_rows].max()) if train_rows.any() else 0.0
    train = encoded.interactions(weights, half_life_days, cut, rows=train_rows)
    repeatable = repeatable_mask(train.items, repeatable_items)
    row_of = positions(users, encoded.user_ids, train.users)
    col_of = positions(np.arange(len(encoded.item_ids)), encoded.item_ids, train.items)
    had = train.matrix.tolil().rows
    kept_users, kept_rows, revealed, pairs, extra = [], [], [], [], {}
    for position, (user, start, end) in enumerate(zip(users, starts, ends, strict=True)):
        items = encoded.items[test[start:end]]
        shown = list(dict.fromkeys(items[:reveal].tolist()))
        seen = set(shown)
        row = int(row_of[position])
        train_had = set(had[row]) if row >= 0 else set()
        relevant = []
        for item in dict.fromkeys(items[reveal:].tolist()):
            col = int(col_of[item])
            again = (item in seen or (col >= 0 and col in train_had))
            if again and not (col >= 0 and repeatable[col]):
                continue
            relevant.append(col if col >= 0 else -1 - extra.setdefault(item, len(extra)))
        if not relevant:
            continue
        kept_users.append(user)
        kept_rows.append(row)
        revealed.append([int(col_of[i]) for i in shown if col_of[i] >= 0])
        pairs.append(relevant)
    n_cols = train.shape[1] + len(extra)
    indptr = np.cumsum([0, *map(len, pairs)])
    indices = np.array([c if c >= 0 else train.shape[1] - 1 - c for p in pairs for c in p],
                       dtype=np.int64)
    relevant_matrix = sparse.csr_matrix((np.ones(len(indices), np.float32), indices, indptr),
                                        shape=(len(pairs), n_cols))
    relevant_matrix.sort_indices()
    rows = np.array(kept_rows, dtype=np.int64)
    if not len(rows):
        raise ConfigError(
            f"the replay (ratio {ratio}, --reveal {reveal}) leaves no test user with a relevant "
            "item after the revealed ones; lower --reveal or --ratio")
    recent = train_rows & (encoded.seconds > cut - config.trending_hours * 3600)
    counts = pd.Series(encoded.weights(weights)[recent], index=col_of[encoded.items[recent]])
    trend = counts[counts.index >= 0].groupby(level=0).sum()
    cold = rows < 0
    summary = {"protocol": "replay", "ratio": ratio, "seed": seed, "reveal": reveal,
               "cold_share": cold_share, "eval_users": len(rows), "cold_users": int(cold.sum()),
               "warm_users": int((~cold).sum()), "hidden_users": len(hidden)}
    return ReplayData(train, encoded.user_ids.ids[np.array(kept_users, dtype=np.int64)], rows,
                      revealed, relevant_matrix, cold, repeatable,
                      realtime.trending([trend.to_dict()]), summary)


def replay_model(model: Recommender, data: ReplayData, k: int, config: RealtimeConfig,
                 session: Recommender | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of every evaluated user: the published lists alone, and with live events.

    ``session``: the fitted model whose similar items start session rankings; by default the
    one publish writes them from (``recommender.models.session``), fitted here.
    """
    n_users, n_items = len(data.rows), data.train.shape[1]
    static = np.full((n_users, k), -1, dtype=np.int64)
    live = np.full((n_users, k), -1, dtype=np.int64)
    warm = np.flatnonzero(data.rows >= 0)
    longest = max((len(r) for r in data.revealed), default=0)
    if len(warm):
        history = data.train.matrix[data.rows[warm]]
        ranked = top_unseen(model, data.rows[warm], history, data.repeatable,
                            min(k + longest, n_items))
        static[warm] = ranked[:, :k]
    popular = _popular(data.train)
    popular_live = [f.item for f in realtime.with_trending(
        popular, data.trending, config, min(n_items, len(popular) + len(data.trending)))]
    source = session
    if source is None:
        # imported here: it fits an item-KNN from implicit, which plain evaluation does not need
        from recommender.models.session import session_model

        source = session_model(model, data.train.matrix) or model  # as publish writes them
    similar: dict[int, tuple[list[int], list[float]]] = {}

    def neighbours(item: int) -> tuple[list[int], list[float]]:
        if item not in similar:
            ids, scores = source.similar_items(item, N=min(100, n_items - 1))
            keep = ids >= 0
            similar[item] = (ids[keep].tolist(), scores[keep].tolist())
        return similar[item]

    for user in range(n_users):
        if data.rows[user] < 0:
            static[user, : min(k, len(popular))] = popular[:k]
        shown = [i for i in data.revealed[user] if not data.repeatable[i]]
        base = ranked[np.searchsorted(warm, user)] if data.rows[user] >= 0 else popular_live
        mine = [i for i in base if i >= 0 and i not in shown]
        session, _ = realtime.session_ranking(data.revealed[user], neighbours, config)
        skip = set(shown)
        if data.rows[user] >= 0:
            had = data.train.matrix[data.rows[user]].indices
            skip |= set(had[~data.repeatable[had]].tolist())
        session = [i for i in session if i not in skip]
        weight = config.session_weight if data.rows[user] >= 0 else config.new_user_weight
        fused = realtime.fuse(mine, session, weight, config.offset, k)
        live[user, : len(fused)] = [f.item for f in fused]
    return static, live


def replay_models(names: Sequence[str], data: ReplayData, k: int = 10,
                  params: Mapping[str, Mapping[str, Any]] | None = None,
                  config: RealtimeConfig | None = None) -> ReplayResult:
    """``replay_model`` of each model, scored overall and per group."""
    from recommender.errors import ModelError
    from recommender.models import make_model

    config = config or RealtimeConfig()
    params = params or {}
    models = [make_model(name, params.get(name)) for name in names]  # bad ones fail first
    metrics: dict[str, dict[str, float]] = {}
    groups: dict[str, dict[str, dict[str, float]]] = {}
    errors: dict[str, str] = {}
    masks = {"cold": data.cold, "warm": ~data.cold}
    for name, model in zip(names, models, strict=True):
        try:
            model.fit(data.train.matrix)
            lists = replay_model(model, data, k, config)
        except (ModelError, MemoryError) as exc:
            errors[name] = str(exc) or type(exc).__name__
            continue
        for label, recommended in zip((name, f"{name}+live"), lists, strict=True):
            per_user = per_user_metrics(recommended, data.relevant)
            metrics[label] = summarize(per_user, recommended, data.train.shape[1])
            groups[label] = {
                group: summarize({m: v[mask] for m, v in per_user.items()}, recommended[mask],
                                 data.train.shape[1])
                for group, mask in masks.items() if mask.any()}
    users = {"all": len(data.rows), **{g: int(m.sum()) for g, m in masks.items()}}
    return ReplayResult(metrics, groups, users, errors)


def _popular(train: Interactions) -> list[int]:
    weight = np.asarray(train.matrix.sum(axis=0)).ravel()
    order = np.argsort(-weight, kind="stable")
    return order[weight[order] > 0].tolist()

