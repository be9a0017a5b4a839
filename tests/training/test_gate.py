"""The promotion gate and the tuner's choice of trial, as pure decisions with known answers."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import optuna
import pytest

from training.registry import VersionInfo, gate
from training.tune import choose


def _version(
    version: str, ndcg: float | None, fingerprint: str = "f1", split: str = "stratified"
) -> VersionInfo:
    return VersionInfo(
        name="shop", version=version, aliases=(), run_id="r" + version,
        test={} if ndcg is None else {"ndcg@10": ndcg, "precision@10": 0.1},
        fingerprint=fingerprint, split=split, created=datetime(2024, 1, 1, tzinfo=UTC),
    )


def test_the_first_promotion_needs_no_gate() -> None:
    allowed, reason = gate(_version("1", 0.1), None)
    assert allowed and "first promotion" in reason


def test_a_better_or_slightly_worse_candidate_is_promoted() -> None:
    assert gate(_version("2", 0.45), _version("1", 0.40))[0]
    assert gate(_version("2", 0.396), _version("1", 0.40), tolerance=0.005)[0]


def test_a_candidate_worse_beyond_the_tolerance_is_refused_with_numbers() -> None:
    allowed, reason = gate(_version("2", 0.39), _version("1", 0.40), tolerance=0.005)
    assert not allowed
    assert "0.3900" in reason and "0.4000" in reason and "worse" in reason and "--force" in reason


def test_the_gate_compares_the_chosen_metric() -> None:
    allowed, _ = gate(_version("2", 0.50), _version("1", 0.40), metric="precision@10", tolerance=0)
    assert allowed  # equal precision
    allowed, reason = gate(_version("2", 0.50), _version("1", 0.40), metric="recall@10")
    assert not allowed and "no logged test metric 'recall@10'" in reason


@pytest.mark.parametrize(
    ("candidate", "words"),
    [
        (_version("2", 0.9, fingerprint="f2"), "different data"),
        (_version("2", 0.9, split="temporal"), "different splits"),
        (_version("2", None), "no logged test metric"),
        (_version("2", 0.9, fingerprint=""), "no data fingerprint"),
    ],
)
def test_versions_evaluated_differently_are_not_compared(
    candidate: VersionInfo, words: str
) -> None:
    allowed, reason = gate(candidate, _version("1", 0.1))
    assert not allowed and words in reason


def test_the_holder_itself_passes() -> None:
    assert gate(_version("1", 0.1), _version("1", 0.1))[0]


def _study(values: list[float]) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    distribution = optuna.distributions.FloatDistribution(1.0, 1000.0)
    for number, value in enumerate(values):
        study.add_trial(optuna.trial.create_trial(
            params={"l2": 100.0 * (number + 1)}, distributions={"l2": distribution}, value=value
        ))
    return study


def test_choose_keeps_the_current_parameters_when_the_best_gain_is_noise() -> None:
    rng = np.random.default_rng(0)
    first = rng.random(400)
    noisy = first + rng.normal(0.002, 0.05, 400)  # mean gain far below one standard error
    study = _study([float(first.mean()), float(noisy.mean())])
    assert study.best_trial.number == 1
    assert choose(study, {0: first, 1: noisy}).number == 0
    assert choose(study, {0: first, 1: noisy}, se_rule=0.0).number == 1


def test_choose_takes_the_best_trial_when_it_is_clearly_better() -> None:
    rng = np.random.default_rng(0)
    first = rng.random(400)
    better = first + rng.normal(0.05, 0.05, 400)
    study = _study([float(first.mean()), float(better.mean()), float(first.mean()) - 0.1])
    assert choose(study, {0: first, 1: better}).number == 1


def test_choose_takes_the_best_trial_without_per_user_values() -> None:
    study = _study([0.1, 0.2])
    assert choose(study, {}).number == 1
