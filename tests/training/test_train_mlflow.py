"""Train against a real MLflow store: run, register, load by alias, predict; the CLI's output."""

from __future__ import annotations

import json
import re
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from recommender.matrix import build_interactions
from recommender.synth import SynthData
from recsys_cli.main import app
from training.aliases import CHAMPION
from training.fingerprint import fingerprint
from training.job_data import prepare_job
from training.model_store import load_version, metric_key
from training.spec import TrainSpec
from training.tracking import GIT_COMMIT_TAG, git_commit
from training.train import TrainResult, train

SPEC = TrainSpec(
    model="als", params={"factors": 16, "iterations": 5}, weights={"view": 1.0, "click": 2.0,
    "favorite": 3.0, "cart": 4.0, "share": 4.0, "purchase": 8.0}, half_life_days=30.0,
)


@pytest.fixture(scope="module")
def trained(shop: SynthData, mlflow_store: str) -> tuple[str, TrainResult]:
    name = "train-test-shop"
    result = train(shop.events, SPEC, experiment="train-tests", catalog=shop.catalog,
                   register=name, alias=CHAMPION)
    return name, result


def test_train_registers_a_version_and_promotes_the_first_one(
    trained: tuple[str, TrainResult],
) -> None:
    name, result = trained
    assert result.version == "1"
    assert result.promotion is not None and result.promotion.promoted
    assert str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version) == "1"
    assert set(result.test) == {"precision@10", "recall@10", "ndcg@10", "map@10",
                                "hit_rate@10", "coverage@10"}
    assert 0.0 < result.test["ndcg@10"] <= 1.0
    assert result.params["factors"] == 16 and result.params["alpha"] > 0  # defaults filled in


def test_the_run_logs_params_fingerprint_and_test_metrics(
    shop: SynthData, trained: tuple[str, TrainResult],
) -> None:
    _, result = trained
    run = MlflowClient().get_run(result.run_id)
    params, metrics = run.data.params, run.data.metrics
    expected = fingerprint(shop.events)
    assert params["model"] == "als" and params["param.factors"] == "16"
    assert params["weight.purchase"] == "8.0" and params["half_life_days"] == "30.0"
    assert (params["protocol"], params["ratio"], params["seed"]) == ("stratified", "0.75", "42")
    assert params["data.rows"] == str(expected.rows)
    assert params["data.content_hash"] == expected.content_hash
    assert run.data.tags["recsys.fingerprint"] == expected.content_hash
    assert metrics[metric_key("test", "ndcg@10")] == pytest.approx(result.test["ndcg@10"])


def test_the_run_is_named_for_its_job_and_tagged_with_the_checked_out_commit(
    trained: tuple[str, TrainResult],
) -> None:
    run = MlflowClient().get_run(trained[1].run_id)
    assert re.fullmatch(r"train-als-\d{8}-\d{4}", run.info.run_name)
    assert run.data.tags.get(GIT_COMMIT_TAG) == git_commit()  # None outside a git checkout


def test_the_logged_model_holds_no_pickle_and_runs_from_code(
    trained: tuple[str, TrainResult], tmp_path: Path
) -> None:
    name, _ = trained
    folder = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/1", dst_path=str(tmp_path)))
    files = {p.name for p in folder.rglob("*") if p.is_file()}
    assert not any(f.endswith((".pkl", ".pickle", ".cloudpickle")) for f in files)
    assert {"model_code.py", "model.npz", "id_maps.npz", "user_items.npz", "catalog.parquet",
            "spec.json", "fingerprint.json"} <= files
    assert "python_model" not in (folder / "MLmodel").read_text()


def test_the_model_loads_by_alias_and_predicts_unseen_available_items(
    shop: SynthData, trained: tuple[str, TrainResult]
) -> None:
    name, _ = trained
    pyfunc = mlflow.pyfunc.load_model(f"models:/{name}@{CHAMPION}")
    users = shop.events["user_id"].drop_duplicates().head(5).tolist()
    frame = pyfunc.predict(pd.DataFrame({"user_id": [*users, "nobody"]}), params={"n": 4})
    assert list(frame.columns) == ["user_id", "rank", "item_id", "score"]
    assert frame.groupby("user_id").size().to_dict() == dict.fromkeys(users, 4)
    assert frame["rank"].tolist() == [1, 2, 3, 4] * 5
    seen = set(zip(shop.events["user_id"], shop.events["item_id"], strict=True))
    assert not seen & set(zip(frame["user_id"], frame["item_id"], strict=True))
    unavailable = set(shop.catalog.loc[~shop.catalog["available"], "item_id"])
    assert not unavailable & set(frame["item_id"])

    default = pyfunc.predict(pd.DataFrame({"user_id": users[:1]}))
    assert len(default) == 10
    content = pyfunc.predict(pd.DataFrame({"user_id": users}), params={"kind": "content"})
    kinds = shop.catalog.set_index("item_id")["kind"]
    assert set(kinds[content["item_id"]]) == {"content"}


def test_load_version_returns_the_recommender_fitted_on_all_events(
    shop: SynthData, trained: tuple[str, TrainResult]
) -> None:
    name, result = trained
    loaded = load_version(f"{name}@{CHAMPION}")
    assert (loaded.name, loaded.version, loaded.run_id) == (name, "1", result.run_id)
    assert loaded.metrics == pytest.approx(result.test)
    assert loaded.fingerprint == fingerprint(shop.events)
    assert loaded.config.params["factors"] == 16 and loaded.config.split_key == SPEC.split_key
    full = build_interactions(shop.events, SPEC.weights, SPEC.half_life_days)
    assert loaded.interactions.users.ids.tolist() == full.users.ids.tolist()
    np.testing.assert_allclose(loaded.interactions.matrix.toarray(), full.matrix.toarray())
    assert set(loaded.catalog["item_id"]) == set(shop.catalog["item_id"])
    assert load_version(f"{name}/1").version == "1"


def test_train_cli_prints_the_documented_json_on_stdout(
    shop_files: tuple[Path, Path], mlflow_store: str, model_name: str
) -> None:
    events, items = shop_files
    result = CliRunner().invoke(app, [
        "train", "--events", str(events), "--items", str(items), "--model", "pop",
        "--experiment", "train-tests", "--register", model_name, "--json",
    ])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"run_id", "version", "params", "test", "seconds"}
    assert payload["version"] == "1" and payload["params"] == {"by": "users", "per_category": False}
    assert 0.0 < payload["test"]["ndcg@10"] <= 1.0
    assert "refitting pop" in result.stderr


def test_train_cli_explains_bad_parameters(
    shop_files: tuple[Path, Path], mlflow_store: str
) -> None:
    events, _ = shop_files
    result = CliRunner().invoke(app, [
        "train", "--events", str(events), "--model", "als", "--param", "colour=red",
        "--experiment", "train-tests",
    ])
    assert result.exit_code == 2
    assert "unknown parameter(s) ['colour']" in result.stderr


def test_train_on_prepared_job_data_logs_what_train_on_the_events_logs(
    shop: SynthData, mlflow_store: str, trained: tuple[str, TrainResult]
) -> None:
    _, from_events = trained
    job = prepare_job(shop.events, SPEC)
    assert job.fingerprint == fingerprint(shop.events)
    result = train(job, SPEC, experiment="train-tests", catalog=shop.catalog)
    assert result.fingerprint == from_events.fingerprint
    assert result.test == pytest.approx(from_events.test)
    assert result.seconds >= job.seconds


def test_job_data_prepared_for_another_spec_is_refused(shop: SynthData, mlflow_store: str) -> None:
    job = prepare_job(shop.events, SPEC)
    with pytest.raises(ValueError, match="another spec"):
        train(job, SPEC.with_params({"factors": 8}), experiment="train-tests")


def test_train_cli_creates_a_new_store_while_it_reads(
    shop_files: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events, _ = shop_files
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'new.db'}")
    missing = CliRunner().invoke(app, [
        "train", "--events", str(tmp_path / "nope.parquet"), "--experiment", "fresh",
    ])
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    result = CliRunner().invoke(app, [
        "train", "--events", str(events), "--model", "pop", "--experiment", "fresh", "--json",
    ])
    assert result.exit_code == 0, result.stderr
    experiments = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'new.db'}").search_experiments()
    assert [e.name for e in experiments if e.name == "fresh"] == ["fresh"]


def _experiment_exists(name: str) -> bool:
    return MlflowClient().get_experiment_by_name(name) is not None


def test_train_cli_refuses_an_unknown_model_before_it_opens_the_experiment(
    shop_files: tuple[Path, Path], mlflow_store: str
) -> None:
    events, _ = shop_files
    result = CliRunner().invoke(app, [
        "train", "--events", str(events), "--model", "EASX", "--experiment", "never-opened",
    ])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: --model: unknown model 'EASX'; choose one of pop, als, bpr, itemknn, ease\n"
    )
    assert not _experiment_exists("never-opened")


def test_train_cli_matches_model_names_in_any_case(
    shop_files: tuple[Path, Path], mlflow_store: str
) -> None:
    events, _ = shop_files
    result = CliRunner().invoke(app, [
        "train", "--events", str(events), "--model", "POP", "--experiment", "train-tests",
        "--json",
    ])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["params"] == {"by": "users", "per_category": False}


def test_train_cli_refuses_a_misspelt_event_type_before_it_opens_the_experiment(
    shop_files: tuple[Path, Path], mlflow_store: str
) -> None:
    events, _ = shop_files
    result = CliRunner().invoke(app, [
        "train", "--events", str(events), "--model", "pop", "--weights", "view=1,purchse=8",
        "--experiment", "never-opened-either",
    ])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --weights: unknown event type 'purchse'; known: view, click, favorite, cart, "
        "share, purchase"
    )
    assert not _experiment_exists("never-opened-either")
