"""``training.spark.job_data``: the train job's data prepared on a real local Spark, against the
one-machine ``prepare_job`` of the same files (the reference)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession

from recommender.config import DEFAULT_WEIGHTS
from recommender.data import load_events
from recommender.errors import ConfigError, DataError
from recommender.matrix import Interactions
from recommender.synth import SynthData
from training.job_data import JobData, prepare_job
from training.spark.job_data import Kept, lerp, number, prepare_job_on_spark, quantile
from training.spec import TrainSpec

SPEC = TrainSpec(model="als", weights=dict(DEFAULT_WEIGHTS), half_life_days=30.0)


@pytest.fixture(scope="module")
def parts(shop: SynthData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's events in three Parquet files below a directory (as the sink writes them),
    with an ``event_id`` column."""
    folder = tmp_path_factory.mktemp("parts")
    events = shop.events.assign(event_id=[f"e{i}" for i in range(len(shop.events))])
    for day, chunk in enumerate(np.array_split(np.arange(len(events)), 3)):
        place = folder / f"date=2026-11-0{day + 1}"
        place.mkdir()
        events.iloc[chunk].to_parquet(place / "part-0.parquet", index=False)
    return folder


def _reference(path: Path, spec: TrainSpec, catalog: pd.DataFrame | None = None) -> JobData:
    frame = load_events(path, event_types=set(spec.weights)).frame
    return prepare_job(frame, spec, catalog=catalog)


def _same_interactions(ours: Interactions, reference: Interactions) -> None:
    assert list(ours.users.ids) == list(reference.users.ids)
    assert list(ours.items.ids) == list(reference.items.ids)
    assert ours.shape == reference.shape
    difference = abs(ours.matrix - reference.matrix)
    assert difference.max() <= 1e-5 * max(float(abs(reference.matrix).max()), 1.0)
    assert ours.nnz == reference.nnz


@pytest.fixture(scope="module")
def csv_file(shop: SynthData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shop's events as one CSV file."""
    path = tmp_path_factory.mktemp("csv") / "events.csv"
    shop.events.to_csv(path, index=False)
    return path


@pytest.mark.parametrize(("protocol", "source"), [
    ("leave-last", "parts"), ("temporal", "parts"), ("leave-last", "csv_file")])
def test_the_split_matrices_and_fingerprint_are_the_one_machine_ones(
        spark: SparkSession, shop: SynthData, protocol: str, source: str,
        request: pytest.FixtureRequest) -> None:
    path = request.getfixturevalue(source)
    spec = TrainSpec(model="als", weights=dict(DEFAULT_WEIGHTS), half_life_days=30.0,
                     protocol=protocol, repeatable_categories=["breakfast"])
    job, load = prepare_job_on_spark(spark, path, spec, shop.catalog)
    reference = _reference(path, spec, shop.catalog)
    assert job.events is None
    assert job.fingerprint == reference.fingerprint
    _same_interactions(job.everything, reference.everything)
    _same_interactions(job.split.train, reference.split.train)
    assert (job.split.test != reference.split.test).nnz == 0
    assert job.split.test.shape == reference.split.test.shape
    assert np.array_equal(job.split.users, reference.split.users)
    assert np.array_equal(job.split.repeatable, reference.split.repeatable)
    assert job.split.summary == reference.split.summary
    assert load.rows_read == len(shop.events) and load.skipped == {}


def test_the_stratified_split_draws_as_many_train_events_per_user(
        spark: SparkSession, shop: SynthData, parts: Path) -> None:
    job, _ = prepare_job_on_spark(spark, parts, SPEC, shop.catalog)
    reference = _reference(parts, SPEC, shop.catalog)
    _same_interactions(job.everything, reference.everything)
    assert job.fingerprint == reference.fingerprint
    ours, theirs = job.split.summary, reference.split.summary
    assert (ours["train_rows"], ours["test_rows"]) == (theirs["train_rows"], theirs["test_rows"])
    assert ours["train_users"] == theirs["train_users"]
    # another draw than numpy's: other rows, a close number of evaluated users
    assert job.split.train.matrix.nnz != reference.split.train.matrix.nnz or not np.array_equal(
        job.split.train.matrix.data, reference.split.train.matrix.data)
    assert abs(ours["eval_users"] - theirs["eval_users"]) <= 0.1 * theirs["eval_users"]


def test_a_bad_row_names_its_file_and_row_or_is_skipped_and_counted(
        spark: SparkSession, shop: SynthData, tmp_path: Path) -> None:
    good = shop.events.iloc[:1500].drop(columns="event_id")
    events = shop.events.iloc[1500:3000].drop(columns="event_id").reset_index(drop=True)
    events["event"] = events["event"].astype(object)
    events.loc[7, "event"] = "teleport"
    (tmp_path / "a").mkdir()
    good.to_parquet(tmp_path / "a" / "0.parquet", index=False)
    events.to_parquet(tmp_path / "a" / "1.parquet", index=False)
    with pytest.raises(DataError) as raised:
        prepare_job_on_spark(spark, tmp_path / "a", SPEC)
    assert raised.value.source.endswith("1.parquet")
    assert raised.value.problems[0].row == 8 and raised.value.problems[0].column == "event"
    job, load = prepare_job_on_spark(spark, tmp_path / "a", SPEC, skip_invalid=True)
    assert load.rows_read == 3000 and sum(load.skipped.values()) == 1
    assert job.fingerprint.rows == 2999


def test_an_event_id_sent_again_in_a_later_file_is_found(
        spark: SparkSession, shop: SynthData, tmp_path: Path) -> None:
    events = shop.events.head(200).assign(event_id=[f"e{i}" for i in range(200)])
    (tmp_path / "d").mkdir()
    events.iloc[:150].to_parquet(tmp_path / "d" / "0.parquet", index=False)
    events.iloc[100:].to_parquet(tmp_path / "d" / "1.parquet", index=False)  # 50 again
    with pytest.raises(DataError) as raised:
        prepare_job_on_spark(spark, tmp_path / "d", SPEC)
    assert raised.value.source.endswith("1.parquet") and raised.value.total == 50
    assert raised.value.problems[0].row == 1 and raised.value.problems[0].value == "e100"
    job, load = prepare_job_on_spark(spark, tmp_path / "d", SPEC, skip_invalid=True)
    assert job.fingerprint.rows == 200 and sum(load.skipped.values()) == 50


def test_a_bad_protocol_is_refused_before_any_spark_work(spark: SparkSession,
                                                         parts: Path) -> None:
    with pytest.raises(ConfigError, match="protocol"):
        prepare_job_on_spark(spark, parts, TrainSpec(model="als", protocol="random"))


@pytest.mark.parametrize("ratio", [0.0001, 0.25, 0.5, 0.8, 0.9999])
def test_the_temporal_cut_is_numpys_quantile(spark: SparkSession, ratio: float) -> None:
    values = np.random.default_rng(3).integers(0, 50, 101).astype(float) * 1.5 + 1.7e9
    frame = spark.createDataFrame(pd.DataFrame({"seconds": values}))
    assert quantile(frame, "seconds", ratio) == float(np.quantile(values, ratio))
    assert lerp(1.0, 3.0, 0.75) == float(np.quantile([1.0, 3.0], 0.75))


def test_numbering_follows_first_appearance_across_many_partitions(spark: SparkSession) -> None:
    rng = np.random.default_rng(5)
    values = [f"u{v}" for v in rng.integers(0, 900, 5000)]  # repeats, in a shuffled order
    frame = spark.createDataFrame(pd.DataFrame({
        "file": np.repeat([0, 1], 2500).astype(np.int32), "position": np.tile(np.arange(2500), 2),
        "user_id": values}))
    saved = {key: spark.conf.get(key) for key in ("spark.sql.shuffle.partitions",
                                                  "spark.sql.adaptive.enabled")}
    spark.conf.set("spark.sql.shuffle.partitions", "7")
    spark.conf.set("spark.sql.adaptive.enabled", "false")
    keep = Kept()
    try:
        codes, ids = number(frame, "user_id", "user", keep)
        assert codes.rdd.getNumPartitions() == 7
        expected = list(dict.fromkeys(values))
        assert list(ids.ids) == expected
        got = dict(codes.collect())
        assert [got[value] for value in expected] == list(range(len(expected)))
    finally:
        keep.release()
        for key, value in saved.items():
            spark.conf.set(key, value)
