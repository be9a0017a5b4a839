"""Assignment of users to variants: stable, by weight, independent between experiments."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from storage.experiments import ExperimentRecord

USERS = [f"user-{i}" for i in range(10_000)]


def experiment(name: str = "exp", weights: tuple[float, ...] = (50, 50),
               kinds: list[str] | None = None) -> ExperimentRecord:
    names = ["control", "treatment", "third"][: len(weights)]
    return ExperimentRecord.from_json(json.dumps({
        "name": name, "status": "running", "control": "control", "kinds": kinds or [],
        "started_at": "2026-11-20T08:00:00+00:00", "stopped_at": None,
        "variants": [{"name": n, "weight": w, "ref": f"shop@{n}", "model": "shop",
                      "version": str(i + 1), "namespace": f"shop:{i + 1}:abcd"}
                     for i, (n, w) in enumerate(zip(names, weights, strict=True))],
    }))


def shares(exp: ExperimentRecord) -> dict[str, float]:
    counts = Counter(exp.assign(user).name for user in USERS)
    return {name: count / len(USERS) for name, count in counts.items()}


def test_a_user_always_gets_the_same_variant() -> None:
    first = [experiment().assign(user).name for user in USERS[:500]]
    again = [experiment().assign(user).name for user in USERS[:500]]
    assert first == again
    assert set(first) == {"control", "treatment"}


@pytest.mark.parametrize("weights", [(50, 50), (30, 70), (1, 1, 2)])
def test_shares_follow_the_weights_within_two_points(weights: tuple[float, ...]) -> None:
    expected = [w / sum(weights) for w in weights]
    found = shares(experiment(weights=weights))
    names = ["control", "treatment", "third"][: len(weights)]
    assert [found[name] for name in names] == pytest.approx(expected, abs=0.02)


def test_two_experiments_split_users_independently() -> None:
    a, b = experiment("exp-a"), experiment("exp-b")
    both = Counter((a.assign(user).name, b.assign(user).name) for user in USERS)
    # Independent halves: each of the four combinations holds about a quarter of the users.
    assert [count / len(USERS) for count in both.values()] == pytest.approx([0.25] * 4, abs=0.02)


def test_only_the_experiments_kinds_are_split() -> None:
    products = experiment(kinds=["product"])
    assert products.covers("product") and not products.covers("content")
    assert experiment().covers("content")  # no kinds = every kind
