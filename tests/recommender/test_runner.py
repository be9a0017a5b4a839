"""The evaluation runner, with a stub model whose rankings are known in advance."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pytest
from scipy import sparse

from recommender.evaluation import (
    EvalData,
    EvalResult,
    evaluate_model,
    evaluate_models,
    recommend_users,
)
from recommender.matrix import IdMap, Interactions
from recommender.models.base import Recommender

# Item scores of the stub: item 0 best, then 1, 2, 3, 4.
SCORES = np.array([5.0, 4.0, 3.0, 2.0, 1.0], dtype=np.float32)


class FixedScores(Recommender):
    """Scores every user with ``SCORES`` (negated if ``reverse``); records what it fits on."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.fitted_on: list[tuple[int, int]] = []

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        self.fitted_on.append(user_items.shape)
        self.n_items = user_items.shape[1]
        self.fitted = True
        return self

    def _user_scores(self, userids: np.ndarray, user_items: sparse.csr_matrix) -> np.ndarray:
        order = -SCORES if self.params.get("reverse", False) else SCORES
        return np.tile(order, (len(userids), 1))

    def _item_scores(self, itemids: np.ndarray) -> np.ndarray:
        return np.tile(SCORES, (len(itemids), 1))

    def _arrays(self) -> dict[str, np.ndarray]:
        return {}

    def _from_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        return None


def tiny_data() -> EvalData:
    """3 users x 5 train items; test has one extra, test-only column (index 5).

    train: u0 {0}, u1 {1, 2}, u2 {} (no train item: not evaluated)
    test:  u0 {1, 5}, u1 {0}, u2 {3}
    """
    train = sparse.csr_matrix((np.ones(3, dtype=np.float32), ([0, 1, 1], [0, 1, 2])), shape=(3, 5))
    test = sparse.csr_matrix(
        (np.ones(4, dtype=np.float32), ([0, 0, 1, 2], [1, 5, 0, 3])), shape=(3, 6)
    )
    interactions = Interactions(
        train, IdMap.from_ids(["u0", "u1", "u2"]), IdMap.from_ids(["a", "b", "c", "d", "e"])
    )
    return EvalData(
        train=interactions, test=test, users=np.array([0, 1]), n_test_only_items=1, summary={}
    )


# With k = 2 and train items filtered:
# u0: rec [1, 2], relevant {1, 5}: hits [1, 0]; P 1/2, R 1/2, nDCG 1/(1 + 1/log2 3), AP 1/2, hit 1
# u1: rec [0, 3], relevant {0}:    hits [1, 0]; P 1/2, R 1,   nDCG 1,                AP 1,   hit 1
# coverage: {0, 1, 2, 3} of 5 train items = 0.8
EXPECTED = {
    "precision@2": 0.5,
    "recall@2": 0.75,
    "ndcg@2": (1 / (1 + 1 / math.log2(3)) + 1.0) / 2,
    "map@2": 0.75,
    "hit_rate@2": 1.0,
    "coverage@2": 0.8,
}


def test_recommendations_skip_train_items_and_unevaluated_users() -> None:
    model = FixedScores().fit(tiny_data().train.matrix)
    assert recommend_users(model, tiny_data(), k=2).tolist() == [[1, 2], [0, 3]]


def test_evaluate_model_fits_on_train_and_returns_known_metrics() -> None:
    model = FixedScores()
    result = evaluate_model(model, tiny_data(), k=2)
    assert model.fitted_on == [(3, 5)]
    assert list(result) == list(EXPECTED)
    for name, value in EXPECTED.items():
        assert result[name] == pytest.approx(value), name


def test_evaluate_model_can_score_an_already_fitted_model() -> None:
    model = FixedScores().fit(tiny_data().train.matrix)
    result = evaluate_model(model, tiny_data(), k=2, fit=False)
    assert model.fitted_on == [(3, 5)]  # not fitted a second time
    assert result["map@2"] == pytest.approx(0.75)


def test_evaluate_models_builds_each_model_and_reports_metrics_and_seconds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[tuple[str, Mapping[str, Any] | None]] = []

    def make_model(name: str, params: Mapping[str, Any] | None = None) -> Recommender:
        built.append((name, params))
        return FixedScores(**(params or {}))

    monkeypatch.setattr("recommender.models.make_model", make_model, raising=False)
    messages: list[str] = []
    result = evaluate_models(
        ["best", "worst"],
        tiny_data(),
        k=2,
        params={"worst": {"reverse": True}},
        progress=messages.append,
    )
    assert isinstance(result, EvalResult)
    assert built == [("best", None), ("worst", {"reverse": True})]
    assert result.metrics["best"] == pytest.approx(EXPECTED)
    # reversed scores: u0 rec [4, 3] and u1 rec [4, 3]: no hit at all; coverage {3, 4} / 5
    assert result.metrics["worst"]["hit_rate@2"] == 0.0
    assert result.metrics["worst"]["coverage@2"] == pytest.approx(0.4)
    assert set(result.seconds) == {"best", "worst"}
    assert all(s >= 0.0 for s in result.seconds.values())
    assert result.per_user["best"]["recall@2"].tolist() == pytest.approx([0.5, 1.0])
    assert len(messages) == 4 and "best (1/2)" in messages[0] and "worst (2/2)" in messages[2]
