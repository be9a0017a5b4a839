"""The evaluation runner when a model cannot run: the others' results stand."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

import pytest
from scipy import sparse

from recommender.errors import ModelFitError
from recommender.evaluation import evaluate_models
from recommender.models.base import Recommender
from tests.recommender.test_runner import EXPECTED, FixedScores, tiny_data


class Refuses(FixedScores):
    """Refuses to fit, like EASE over its ``max_items``."""

    def fit(self, user_items: sparse.csr_matrix, show_progress: bool = False) -> Self:
        raise ModelFitError("too many items for this model")


def _stubs(monkeypatch: pytest.MonkeyPatch, fitted: list[str]) -> None:
    def make_model(name: str, params: Mapping[str, Any] | None = None) -> Recommender:
        if params and "bad" in params:
            raise ValueError(f"{name}: unknown parameter 'bad'")
        model = Refuses() if name == "refuses" else FixedScores()
        original = model.fit

        def fit(user_items: sparse.csr_matrix, show_progress: bool = False) -> Recommender:
            fitted.append(name)
            return original(user_items)

        model.fit = fit  # type: ignore[method-assign]
        return model

    monkeypatch.setattr("recommender.models.make_model", make_model, raising=False)


def test_a_model_that_refuses_is_reported_and_the_others_are_still_scored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fitted: list[str] = []
    _stubs(monkeypatch, fitted)
    messages: list[str] = []
    result = evaluate_models(["best", "refuses", "last"], tiny_data(), k=2,
                             progress=messages.append)
    assert fitted == ["best", "refuses", "last"]
    assert list(result.metrics) == ["best", "last"]
    assert result.metrics["last"] == pytest.approx(EXPECTED)
    assert result.errors == {"refuses": "too many items for this model"}
    assert set(result.seconds) == set(result.per_user) == {"best", "last"}
    assert "refuses failed: too many items for this model" in messages


def test_a_bad_parameter_fails_before_any_model_is_fitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fitted: list[str] = []
    _stubs(monkeypatch, fitted)
    with pytest.raises(ValueError, match="unknown parameter 'bad'"):
        evaluate_models(["best", "last"], tiny_data(), k=2, params={"last": {"bad": 1}})
    assert fitted == []
