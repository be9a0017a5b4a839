"""A tiny shop whose right answers are known, and a stub model with fixed scores.

Model items (index: id, kind, category): 0 p0 breakfast, 1 p1 breakfast, 2 p2 lunch,
3 p3 lunch, 4 p4 snacks, 5 p5 snacks (unavailable), 6 c0 articles, 7 c1 articles; the catalog
also has ``pnew``, a breakfast product created the day before ``NOW`` with no history.

Users: ``u0`` bought p4 (snacks); ``u1``, a breakfast regular, bought p0 and p1; ``u2`` read c0.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Self

import numpy as np
import pandas as pd
import redis
from scipy import sparse

from recommender.config import RecsysConfig
from recommender.matrix import IdMap, Interactions
from recommender.models.base import Recommender
from training.publish import PublishStats, publish_version

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ITEMS = ["p0", "p1", "p2", "p3", "p4", "p5", "c0", "c1"]
USERS = ["u0", "u1", "u2"]
SCORES = np.array(
    [
        # p0   p1   p2   p3   p4   p5    c0   c1
        [0.50, 0.30, 0.90, 0.80, 0.40, 0.95, 0.70, 0.60],  # u0
        [0.20, 0.10, 0.60, 0.50, 0.40, 0.30, 0.20, 0.90],  # u1
        [0.10, 0.20, 0.30, 0.40, 0.50, 0.60, 0.90, 0.80],  # u2
    ],
    dtype=np.float32,
)
SIMILARITY = np.array(
    [
        [1.0, 0.9, 0.2, 0.1, 0.5, 0.8, 0.0, 0.0],
        [0.9, 1.0, 0.3, 0.2, 0.1, 0.7, 0.0, 0.0],
        [0.2, 0.3, 1.0, 0.9, 0.4, 0.1, 0.0, 0.0],
        [0.1, 0.2, 0.9, 1.0, 0.3, 0.2, 0.0, 0.0],
        [0.5, 0.1, 0.4, 0.3, 1.0, 0.6, 0.0, 0.0],
        [0.8, 0.7, 0.1, 0.2, 0.6, 1.0, 0.0, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.5],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0],
    ],
    dtype=np.float32,
)
# u0 bought p4; u1 bought p0 and p1; u2 read c0. Popularity: p1 (9) > p4 (6) > p0 (5) > c0 (1).
TRAIN = np.zeros((3, 8), dtype=np.float32)
TRAIN[0, 4] = 6.0
TRAIN[1, 0], TRAIN[1, 1] = 5.0, 9.0
TRAIN[2, 6] = 1.0


class FixedScores(Recommender):
    """Scores and similarities given as matrices; not registered (its name is set afterwards)."""

    def __init__(self, scores: np.ndarray = SCORES, similarity: np.ndarray = SIMILARITY,
                 **params: Any) -> None:
        super().__init__(**params)
        self.scores, self.similarity = scores, similarity

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        self.n_items, self.fitted = user_items.shape[1], True
        return self

    def _user_scores(self, userids: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        return self.scores[userids].copy()

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        return self.similarity[itemids].copy()

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"scores": self.scores, "similarity": self.similarity}

    def _from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        self.scores, self.similarity = arrays["scores"], arrays["similarity"]


FixedScores.name = "fixed"
FixedScores.cooccurrence_similar = True  # SIMILARITY starts session rankings as it is


def interactions(matrix: np.ndarray = TRAIN, users: list[str] | None = None,
                 items: list[str] | None = None) -> Interactions:
    return Interactions(sparse.csr_matrix(matrix), IdMap.from_ids(users or USERS),
                        IdMap.from_ids(items or ITEMS))


def catalog() -> pd.DataFrame:
    ids = [*ITEMS, "pnew"]
    return pd.DataFrame(
        {
            "item_id": ids,
            "kind": ["product"] * 6 + ["content"] * 2 + ["product"],
            "category": ["breakfast", "breakfast", "lunch", "lunch", "snacks", "snacks",
                         "articles", "articles", "breakfast"],
            "title": [f"title of {i}" for i in ids],
            "tags": ["morning", "", "", "", "", "", "", "", "morning"],
            "available": [True] * 5 + [False] + [True] * 3,
            "created_at": [pd.Timestamp(NOW - timedelta(days=100))] * 8
            + [pd.Timestamp(NOW - timedelta(days=1))],
        }
    )


def config(prefix: str, realtime: dict[str, Any] | None = None, **rules: Any) -> RecsysConfig:
    """Asia/Shanghai with one slot, breakfast 06:30-09:30 (boost 2, push); ``realtime`` as
    ``[realtime]`` (default: the defaults)."""
    slot = {"name": "breakfast", "start": "06:30", "end": "09:30", "categories": ["breakfast"],
            "boost": 2.0, "push": True, "push_items": 2}
    return RecsysConfig.model_validate(
        {"rules": {"timezone": "Asia/Shanghai", "slots": [slot], **rules},
         "serving": {"prefix": prefix}, "realtime": realtime or {}}
    )


def publish(client: redis.Redis, prefix: str, version: str = "1", model: Recommender | None = None,
            train: Interactions | None = None, **kwargs: Any) -> PublishStats:
    """Publish the world (or a variant of it) as model ``shop``."""
    rules = kwargs.pop("rules", {})
    realtime = kwargs.pop("realtime", None)
    train = train or interactions()
    return publish_version(
        client, "shop", version, (model or FixedScores()).fit(train.matrix), train,
        kwargs.pop("catalog", catalog()), config(prefix, realtime, **rules), now=NOW, **kwargs,
    )
