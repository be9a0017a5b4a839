"""The Spark session of a job: the master given (``local[*]`` by default), Arrow on, no web UI."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Mapping

from pyspark.sql import SparkSession

DEFAULT_MASTER = "local[*]"
APP_NAME = "recsys"


def spark_session(
    master: str = DEFAULT_MASTER, shuffle_partitions: int | None = None, ui: bool = False,
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """The active Spark session, or a new one on ``master`` (``local[*]``, ``spark://...``,
    ``yarn``, ``k8s://...``).

    ``shuffle_partitions`` sets ``spark.sql.shuffle.partitions``; by default a local master gets
    two per core (Spark's 200 suits a cluster: on 2 local cores the train job's split of 2M
    events took 61 s with them against 11 s with 4), a cluster keeps its own setting. Arrow
    carries data between pandas and Spark both ways.
    Python workers of a local master run this interpreter (its packages), unless
    ``PYSPARK_PYTHON`` names another; on a cluster they run the executors' Python, which needs
    the ``recsys`` package installed. ``conf`` adds any other Spark setting.
    """
    builder = (
        SparkSession.builder.master(master)
        .appName(APP_NAME)
        .config("spark.ui.enabled", str(ui).lower())
        .config("spark.ui.showConsoleProgress", "false")  # the CLI shows its own progress
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")
    )
    if master.startswith("local"):  # PySpark reads it from the environment only
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if shuffle_partitions is None:
            shuffle_partitions = 2 * (os.cpu_count() or 1)
    if shuffle_partitions is not None:
        builder = builder.config("spark.sql.shuffle.partitions", str(shuffle_partitions))
    for key, value in (conf or {}).items():
        builder = builder.config(key, value)
    # PySpark warns on every pandas conversion that it is not tested with pandas 3; the
    # conversions used here are (tests/spark).
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas",
                            category=FutureWarning)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
