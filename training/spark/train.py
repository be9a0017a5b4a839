"""``recsys train --engine spark``: the train job of ``training.train`` with ALS fitted on Spark.

The job is the same one: the events loaded and validated by the same loaders, the same split,
event weights and time decay (``training.job_data``), the same metrics on the same test users
(``recommender.evaluation``), the same MLflow run, artifacts and registered version
(``training.model_store``). Only the two fits (train split, then all events) run on Spark. The run
and its version are tagged ``recsys.engine = spark`` and the run records the ``regParam`` Spark
was given for each fit.
"""

from __future__ import annotations

import pandas as pd
from mlflow.tracking import MlflowClient
from pyspark.sql import SparkSession

from recommender.errors import ConfigError
from recommender.matrix import IdMap
from training.job_data import JobData, Step, no_progress
from training.spark.als import SparkALS
from training.spec import TrainSpec
from training.train import TrainResult, train

ENGINE_TAG = "recsys.engine"
ENGINE = "spark"
SPARK_MODELS = ("als",)
"""Models the Spark engine fits: ALS (Spark MLlib has no BPR, item-KNN or EASE)."""


def check_spark_model(model: str) -> None:
    """A ``ConfigError`` unless Spark can fit ``model``."""
    if model not in SPARK_MODELS:
        raise ConfigError(
            f"the Spark engine fits {', '.join(SPARK_MODELS)} only, not {model!r}; train "
            f"{model!r} on one machine (the default engine)"
        )


class SparkBuilder:
    """``training.train.ModelBuilder`` making ``SparkALS`` models; keeps each one it made, so
    the job can record what Spark was given."""

    def __init__(self, spark: SparkSession) -> None:
        self.spark = spark
        self.built: list[SparkALS] = []

    def __call__(self, spec: TrainSpec, items: IdMap, catalog: pd.DataFrame | None) -> SparkALS:
        check_spark_model(spec.model)
        try:
            model = SparkALS(self.spark, **spec.params)
        except ValueError as exc:
            raise ConfigError(f"--param: {exc}") from None
        self.built.append(model)
        return model


def train_on_spark(
    job: JobData,
    spec: TrainSpec,
    spark: SparkSession,
    *,
    experiment: str,
    catalog: pd.DataFrame | None = None,
    register: str | None = None,
    alias: str | None = None,
    run_name: str | None = None,
    step: Step = no_progress,
) -> TrainResult:
    """``training.train.train`` with the model fitted on ``spark`` (see the module doc)."""
    check_spark_model(spec.model)
    builder = SparkBuilder(spark)
    result = train(job, spec, experiment=experiment, catalog=catalog, register=register,
                   alias=alias, run_name=run_name, step=step, build=builder)
    client = MlflowClient()
    client.set_tag(result.run_id, ENGINE_TAG, ENGINE)
    for part, model in zip(("split", "all"), builder.built, strict=False):
        for key, value in model.spark_params.items():
            client.log_param(result.run_id, f"spark.{part}.{key}", value)
    if register and result.version:
        client.set_model_version_tag(register, result.version, ENGINE_TAG, ENGINE)
    return result

