"""Training and publishing on Apache Spark, for shops past one machine (``--engine spark``).

- ``session``: the Spark session every job uses (``spark_session``).
- ``als``: ALS fitted with Spark MLlib (``SparkALS``), saved as the ``als`` model it equals.
- ``job_data``: the train job's data prepared on Spark (``prepare_job_on_spark``): the events
  read, split, weighed and summed there; the driver gets matrices, not events.
- ``train``: ``recsys train --engine spark``: ``training.train.train`` with ``SparkALS``.
- ``publish``: ``recsys publish --engine spark``: the per-user lists written from Spark
  partitions (``SparkUserLists``); the rest of the publish is ``training.publish``'s.
- ``blocks``: what one partition does with its batches of users.

Only these modules import pyspark, and only the CLI imports them, lazily, for ``--engine spark``:
``recsys`` works without pyspark for everything else, and serving never imports it
(``tests/spark/test_isolation.py``).
"""
