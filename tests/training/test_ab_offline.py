"""``recsys ab offline`` against a real MLflow store: two registered versions, one split."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from recommender.errors import ConfigError
from recommender.synth import SynthData
from recsys_cli.main import app
from training.ab_offline import OfflineComparison, compare_versions
from training.aliases import CHALLENGER, CHAMPION
from training.job_data import prepare_split
from training.model_store import LoadedVersion, load_version
from training.spec import TrainSpec
from training.train import TrainResult, evaluate_spec, train

WEIGHTS = {"view": 1.0, "click": 2.0, "favorite": 3.0, "cart": 4.0, "share": 4.0,
           "purchase": 8.0}
POP = TrainSpec(model="pop", weights=WEIGHTS, protocol="temporal")
ALS = TrainSpec(model="als", params={"factors": 8, "iterations": 3}, weights=WEIGHTS,
                half_life_days=10.0, protocol="stratified")
METRICS = ["precision@10", "recall@10", "ndcg@10", "map@10", "hit_rate@10", "coverage@10"]


@pytest.fixture(scope="module")
def registered(shop: SynthData, mlflow_store: str) -> tuple[str, TrainResult]:
    """Version 1 (pop, temporal split) is the champion, version 2 (als, stratified) the
    challenger."""
    name = "ab-offline-shop"
    first = train(shop.events, POP, experiment="ab-offline", register=name)
    train(shop.events, ALS, experiment="ab-offline", register=name)
    client = MlflowClient()
    client.set_registered_model_alias(name, CHAMPION, "1")
    client.set_registered_model_alias(name, CHALLENGER, "2")
    return name, first


@pytest.fixture(scope="module")
def versions(registered: tuple[str, TrainResult]) -> tuple[LoadedVersion, LoadedVersion]:
    name, _ = registered
    return load_version(f"{name}@{CHAMPION}"), load_version(f"{name}@{CHALLENGER}")


@pytest.fixture(scope="module")
def compared(
    shop: SynthData, registered: tuple[str, TrainResult],
    versions: tuple[LoadedVersion, LoadedVersion],
) -> OfflineComparison:
    name, _ = registered
    return compare_versions(shop.events, *versions, protocol="temporal", n_resamples=500,
                            refs=(f"{name}@{CHAMPION}", f"{name}@{CHALLENGER}"))


def by_name(result: OfflineComparison) -> dict[str, dict[str, float | None]]:
    return {m.metric: {"a": m.a, "b": m.b, "diff": m.diff, "low": m.low, "high": m.high,
                       "p": m.p_value} for m in result.metrics}


def test_versions_evaluated_on_different_splits_need_a_choice(
    shop: SynthData, versions: tuple[LoadedVersion, LoadedVersion]
) -> None:
    with pytest.raises(ConfigError, match=r"protocol 'temporal' vs 'stratified'.*--protocol"):
        compare_versions(shop.events, *versions)


def test_each_side_scores_what_its_model_scores_on_that_split_when_refit(
    shop: SynthData, registered: tuple[str, TrainResult], compared: OfflineComparison
) -> None:
    _, first = registered
    metrics = by_name(compared)
    assert list(metrics) == METRICS
    # Version 1 was evaluated on this very split (temporal 0.75, seed 42) when it was trained:
    # refitting its model class and parameters on the train part gives the same numbers.
    for name, value in first.test.items():
        assert metrics[name]["a"] == pytest.approx(value)
    # Version 2 (als) refit on the temporal split with its own weights and half-life:
    als = replace(ALS, protocol="temporal")
    _, expected = evaluate_spec(als, prepare_split(shop.events, als))
    for name, value in expected.items():
        assert metrics[name]["b"] == pytest.approx(value, rel=1e-5)
    assert compared.a.model == "pop" and compared.b.model == "als"
    assert (compared.a.version, compared.b.version) == ("1", "2")
    assert compared.split["protocol"] == "temporal" and compared.users > 0


def test_differences_come_with_a_paired_bootstrap_interval(compared: OfflineComparison) -> None:
    for metric in compared.metrics:
        assert metric.diff == pytest.approx(metric.b - metric.a)
        if metric.metric.startswith("coverage"):
            assert metric.low is None and metric.p_value is None
        else:
            assert metric.low is not None and metric.high is not None
            assert metric.low <= metric.diff <= metric.high
            assert 0.0 < (metric.p_value or 0.0) <= 1.0


def test_a_version_compared_with_itself_differs_by_exactly_zero(
    shop: SynthData, versions: tuple[LoadedVersion, LoadedVersion]
) -> None:
    champion = versions[0]
    result = compare_versions(shop.events, champion, champion, n_resamples=200)
    assert result.a.ref == result.b.ref == "ab-offline-shop/1"
    for metric in result.metrics:
        assert metric.a == metric.b and metric.diff == 0.0
        if metric.low is not None:
            assert metric.low <= 0.0 <= metric.high  # type: ignore[operator]
            assert metric.p_value == 1.0


def test_ab_offline_cli_prints_the_comparison_as_json(
    shop_files: tuple[Path, Path], registered: tuple[str, TrainResult],
    compared: OfflineComparison,
) -> None:
    name, _ = registered
    events, _ = shop_files
    args = ["ab", "offline", "--a", f"{name}@{CHAMPION}", "--b", f"{name}@{CHALLENGER}",
            "--events", str(events), "--protocol", "temporal", "--resamples", "500"]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload == json.loads(json.dumps(compared.to_json()))

    table = CliRunner().invoke(app, args)
    assert table.exit_code == 0, table.stderr
    assert f"a = {name}@{CHAMPION} ({name}/1, pop)" in table.stdout
    ndcg = by_name(compared)["ndcg@10"]
    assert f"{ndcg['a']:.4f}" in table.stdout and f"{ndcg['diff']:+.4f}" in table.stdout


def test_ab_offline_cli_explains_a_split_conflict(
    shop_files: tuple[Path, Path], registered: tuple[str, TrainResult]
) -> None:
    name, _ = registered
    events, _ = shop_files
    result = CliRunner().invoke(app, ["ab", "offline", "--a", f"{name}/1", "--b", f"{name}/2",
                                      "--events", str(events)])
    assert result.exit_code == 2
    assert "choose one for both with --protocol" in result.stderr
