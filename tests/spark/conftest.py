"""Fixtures of the Spark tests: one local Spark session for the whole run, and the training
tests' shop data and MLflow store (``tests/training/conftest.py``, imported, not copied).

The session is ``local[2]`` with 2 shuffle partitions, no web UI, and Arrow batches of 64 rows,
so that a partition of the small test data still comes in several blocks. Its JVM compiles with
the fast JIT tier only (half the time of the first jobs; the tests' jobs are all short).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import SparkSession

from tests.training.conftest import mlflow_store, model_name, shop, shop_files
from training.spark.session import spark_session

__all__ = ["mlflow_store", "model_name", "shop", "shop_files"]

BLOCK_USERS = 64
TEST_CONF = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.sql.execution.arrow.maxRecordsPerBatch": str(BLOCK_USERS),
}


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = spark_session("local[2]", shuffle_partitions=2, conf=TEST_CONF)
    yield session
    session.stop()
