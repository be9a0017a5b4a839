"""Tuning on a real MLflow store: nested trial runs, and a test split no trial ever sees."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from recommender.config import DEFAULT_WEIGHTS
from recommender.errors import ConfigError
from recommender.evaluation import EvalData, split_events
from recommender.synth import SynthData
from recsys_cli.main import app
from training import tune as tune_module
from training.model_store import metric_key
from training.spec import TrainSpec
from training.tracking import GIT_COMMIT_TAG, git_commit
from training.tune import tune

SPEC = TrainSpec(model="ease", weights=dict(DEFAULT_WEIGHTS), half_life_days=30.0)


def test_tune_runs_nested_trials_and_registers_the_chosen_parameters(
    shop: SynthData, mlflow_store: str, model_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[EvalData] = []
    validate = tune_module.validate

    def spy(spec: TrainSpec, data: EvalData) -> object:
        seen.append(data)
        return validate(spec, data)

    monkeypatch.setattr(tune_module, "validate", spy)
    result = tune(shop.events, SPEC, trials=3, experiment="tune-tests", register=model_name)

    split = split_events(shop.events, SPEC.protocol, SPEC.ratio, SPEC.seed)
    assert len(seen) == 3
    for data in seen:  # every trial fitted and scored on the train part only
        assert data.summary["train_rows"] + data.summary["test_rows"] == len(split.train)
        assert set(data.train.users.ids) <= set(split.train["user_id"])
        assert set(data.train.items.ids) <= set(split.train["item_id"])

    assert result.version == "1" and result.trials == 3
    assert 1.0 <= result.params["l2"] <= 1e4
    assert set(result.validation) == set(result.test)
    runs = mlflow.search_runs(
        experiment_names=["tune-tests"],
        filter_string=f"tags.mlflow.parentRunId = '{result.run_id}'",
    )
    assert len(runs) == 3
    assert sorted(runs["tags.mlflow.runName"]) == ["trial-1", "trial-2", "trial-3"]
    assert runs.loc[runs["tags.mlflow.runName"] == "trial-1", "params.param.l2"].item() == "500.0"
    parent = MlflowClient().get_run(result.run_id)
    assert re.fullmatch(r"tune-ease-\d{8}-\d{4}", parent.info.run_name)
    assert parent.data.tags.get(GIT_COMMIT_TAG) == git_commit()
    assert parent.data.metrics[metric_key("test", "ndcg@10")] == pytest.approx(
        result.test["ndcg@10"]
    )
    assert parent.data.params["param.l2"] == str(result.params["l2"])
    chosen = int(parent.data.params["chosen_trial"])
    trial = runs.loc[runs["tags.mlflow.runName"] == f"trial-{chosen}"]
    assert trial[f"metrics.{metric_key('validation', 'ndcg@10')}"].item() == pytest.approx(
        result.validation["ndcg@10"]
    )


def test_tune_cli_prints_the_documented_json(
    shop_files: tuple[Path, Path], mlflow_store: str, model_name: str
) -> None:
    events, _ = shop_files
    result = CliRunner().invoke(app, [
        "tune", "--events", str(events), "--model", "itemknn", "--trials", "3",
        "--experiment", "tune-tests", "--register", model_name, "--json",
    ])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"run_id", "version", "params", "validation", "test", "seconds"}
    assert payload["version"] == "1" and payload["params"]["similarity"] in {"bm25", "cosine",
                                                                             "tfidf"}
    assert "trial 3/3" in result.stderr


def test_models_without_a_search_space_or_unknown_metrics_are_refused(
    shop: SynthData, mlflow_store: str
) -> None:
    with pytest.raises(ConfigError, match="no search space for model 'pop'"):
        tune(shop.events, TrainSpec(model="pop", weights=dict(DEFAULT_WEIGHTS)), trials=1,
             experiment="tune-tests")
    with pytest.raises(ConfigError, match="--metric 'auc' is not computed"):
        tune(shop.events, SPEC, trials=1, experiment="tune-tests", metric="auc")
