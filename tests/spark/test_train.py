"""``recsys train --engine spark`` against a real MLflow store: the same kind of version as the
one-machine job, so ``recsys publish --engine spark`` (and every other reader) takes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from recommender.config import DEFAULT_WEIGHTS
from recommender.models import ALSRecommender
from recommender.synth import SynthData
from recsys_cli.main import app
from storage.connect import SyncClient
from storage.keys import Keys
from storage.live import read_pointers
from training.fingerprint import fingerprint
from training.job_data import prepare_job
from training.model_store import load_version, metric_key
from training.sink import write_partitions
from training.spark.train import ENGINE_TAG, train_on_spark
from training.spec import TrainSpec
from training.train import TrainResult

SPEC = TrainSpec(model="als", params={"factors": 8, "iterations": 4},
                 weights=dict(DEFAULT_WEIGHTS), half_life_days=30.0)


@pytest.fixture(scope="module")
def trained(spark: SparkSession, shop: SynthData, mlflow_store: str) -> tuple[str, TrainResult]:
    name = "spark-train-shop"
    job = prepare_job(shop.events, SPEC)
    return name, train_on_spark(job, SPEC, spark, experiment="spark-tests", catalog=shop.catalog,
                                register=name, alias="champion")


def test_a_spark_run_registers_an_als_version_like_the_implicit_one(
    trained: tuple[str, TrainResult],
) -> None:
    name, result = trained
    assert result.version == "1" and result.promotion is not None and result.promotion.promoted
    loaded = load_version(f"{name}@champion")
    assert type(loaded.model) is ALSRecommender and loaded.model.params["factors"] == 8
    assert loaded.config.model == "als" and loaded.config.half_life_days == 30.0
    assert loaded.metrics["ndcg@10"] == pytest.approx(result.test["ndcg@10"])
    assert 0.1 < result.test["ndcg@10"] <= 1.0
    ids, _ = loaded.model.recommend(0, loaded.interactions.matrix[[0]], N=5)
    assert (ids >= 0).all() and not set(ids) & set(loaded.interactions.matrix[0].indices)


def test_a_spark_run_says_so_and_records_what_spark_was_given(
    trained: tuple[str, TrainResult],
) -> None:
    name, result = trained
    client = MlflowClient()
    run = client.get_run(result.run_id)
    assert run.data.tags[ENGINE_TAG] == "spark" and run.data.tags["recsys.job"] == "train"
    assert float(run.data.params["spark.split.regParam"]) > 0
    assert float(run.data.params["spark.all.regParam"]) > 0
    assert run.data.metrics[metric_key("test", "ndcg@10")] == pytest.approx(
        result.test["ndcg@10"])
    assert client.get_model_version(name, "1").tags[ENGINE_TAG] == "spark"


def test_train_on_the_sinks_parquet_and_publish_on_spark_from_the_command_line(
    spark: SparkSession, shop: SynthData, shop_files: tuple[Path, Path], tmp_path: Path,
    mlflow_store: str, model_name: str, redis_client: SyncClient, redis_url: str, prefix: str,
) -> None:
    events = tmp_path / "events"  # what `recsys events sink` writes: date=YYYY-MM-DD/part-*.parquet
    assert len(write_partitions(shop.events, events, "1700000000000-0")) > 1
    trained = CliRunner().invoke(app, [
        "train", "--events", str(events), "--items", str(shop_files[1]), "--model", "als",
        "--param", "factors=8", "--param", "iterations=3", "--experiment", "spark-cli",
        "--register", model_name, "--alias", "champion", "--engine", "spark",
        "--spark-master", "local[2]", "--json",
    ])
    assert trained.exit_code == 0, trained.output
    payload = json.loads(trained.output.strip().splitlines()[-1])
    assert payload["engine"] == "spark" and payload["version"] == "1"
    params = MlflowClient().get_run(payload["run_id"]).data.params  # read and split on Spark:
    assert params["data.content_hash"] == fingerprint(shop.events).content_hash  # the same data
    assert params["split.train_rows"] == str(prepare_job(shop.events, SPEC).split.summary[
        "train_rows"])

    published = CliRunner().invoke(app, [
        "publish", f"{model_name}@champion", "--engine", "spark", "--spark-master", "local[2]",
        "--redis-url", redis_url, "--prefix", prefix, "--json",
    ])
    assert published.exit_code == 0, published.output
    stats = json.loads(published.output.strip().splitlines()[-1])
    assert stats["users"] == shop.events["user_id"].nunique()
    assert read_pointers(redis_client, Keys(prefix)).live == {model_name: stats["namespace"]}


@pytest.mark.parametrize(("args", "message"), [
    (["--model", "ease"], "--engine spark: the Spark engine fits als only, not 'ease'"),
    (["--engine", "flink"], "--engine must be one of implicit, spark, got 'flink'"),
])
def test_the_spark_engine_refuses_what_it_cannot_do(
    shop_files: tuple[Path, Path], args: list[str], message: str,
) -> None:
    result = CliRunner().invoke(app, [
        "train", "--events", str(shop_files[0]), "--experiment", "never", "--engine", "spark",
        *args,
    ])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())
