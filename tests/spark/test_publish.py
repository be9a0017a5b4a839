"""Publishing on Spark: the same namespace, byte for byte, as the single-process publish."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pyspark.sql import SparkSession
from typer.testing import CliRunner

from recommender.config import RecsysConfig
from recommender.errors import ConfigError
from recommender.matrix import Interactions
from recommender.models import ALSRecommender, Recommender, make_model
from recommender.synth import SynthData
from recsys_cli.main import app
from storage.connect import SyncClient
from storage.keys import Keys
from storage.live import read_pointers
from storage.writer import namespace_keys
from training.bundle import catalog_subset
from training.job_data import full_matrix
from training.publish import PublishStats, publish_version
from training.spark.publish import SparkUserLists
from training.spec import TrainSpec

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
PARTITIONS = 3
BATCH_USERS = 50
"""The shop's ~190 users in 4 publish batches over 3 partitions, each read in Arrow blocks of
64 rows (``conftest``): batches cut across blocks and partitions hold several batches."""


def config(prefix: str) -> RecsysConfig:
    slot = {"name": "breakfast", "start": "06:30", "end": "09:30", "categories": ["breakfast"],
            "boost": 2.0, "push": True, "push_items": 3}
    return RecsysConfig.model_validate(
        {"rules": {"timezone": "Asia/Shanghai", "slots": [slot]}, "serving": {"prefix": prefix}}
    )


@pytest.fixture(scope="module")
def fitted(shop: SynthData) -> tuple[Recommender, Interactions]:
    spec = TrainSpec(model="als", weights={"view": 1, "click": 2, "favorite": 3, "cart": 4,
                                           "share": 4, "purchase": 8}, half_life_days=30)
    train = full_matrix(shop.events, spec)
    return ALSRecommender(factors=16, iterations=5).fit(train.matrix), train


def publish(client: SyncClient, prefix: str, fitted: tuple[Recommender, Interactions],
            shop: SynthData, version: str, **kwargs: object) -> PublishStats:
    model, train = fitted
    return publish_version(client, "shop", version, model, train, catalog_subset(shop.catalog),
                           config(prefix), now=NOW, keys=Keys(prefix), batch_users=BATCH_USERS,
                           **kwargs)  # type: ignore[arg-type]


def contents(client: SyncClient, prefix: str, namespace: str) -> dict[str, dict[bytes, bytes]]:
    """Every hash of a namespace by its name without the namespace, and every string as a
    hash of one field."""
    out = {}
    for key in namespace_keys(client, Keys(prefix), namespace):
        name = key.replace(namespace, "NS")
        kind = client.type(key)
        if kind == b"hash":
            out[name] = client.hgetall(key)
        elif kind == b"string":
            out[name] = {b"": client.get(key)}
    return out


@pytest.mark.parametrize("redis_backend", ["node", "cluster"], indirect=True)
def test_spark_publish_writes_the_same_bytes_as_the_single_process_publish(
    spark: SparkSession, redis_client: SyncClient, redis_url: str, prefix: str,
    fitted: tuple[Recommender, Interactions], shop: SynthData,
) -> None:
    single = publish(redis_client, prefix, fitted, shop, "1")
    lists = SparkUserLists(spark, redis_url, partitions=PARTITIONS)
    on_spark = publish(redis_client, prefix, fitted, shop, "2", user_lists=lists)

    assert lists.users_written == single.users == on_spark.users == len(fitted[1].users)
    assert read_pointers(redis_client, Keys(prefix)).live == {"shop": on_spark.namespace}
    assert on_spark.keys == single.keys
    expected = contents(redis_client, prefix, single.namespace)
    got = contents(redis_client, prefix, on_spark.namespace)
    assert got.keys() == expected.keys()
    per_user = [name for name in expected if ":u" in name.split("}")[0]]
    assert {name.rsplit(":", 1)[-1] for name in per_user} >= {"product", "profile", "breakfast"}
    for name in per_user:
        assert got[name] == expected[name], name
    meta = {name for name in expected if name.endswith(":meta")}
    assert all(got[name] == expected[name] for name in expected.keys() - meta - {"NS"})
    assert all(redis_client.ttl(key) == -1
               for key in namespace_keys(redis_client, Keys(prefix), on_spark.namespace))


def test_spark_publish_refuses_a_model_without_factors(
    spark: SparkSession, redis_client: SyncClient, redis_url: str, prefix: str,
    fitted: tuple[Recommender, Interactions], shop: SynthData,
) -> None:
    itemknn = make_model("itemknn").fit(fitted[1].matrix)
    with pytest.raises(ConfigError, match="'itemknn' model cannot be published on Spark"):
        publish(redis_client, prefix, (itemknn, fitted[1]), shop, "1",
                user_lists=SparkUserLists(spark, redis_url))
    assert read_pointers(redis_client, Keys(prefix)).live == {}


def test_publish_refuses_an_unknown_engine_before_loading_anything() -> None:
    result = CliRunner().invoke(app, ["publish", "shop@champion", "--engine", "flink",
                                      "--redis-url", "redis://127.0.0.1:1/0"])
    assert result.exit_code == 2
    assert "--engine must be one of local, spark, got 'flink'" in " ".join(result.output.split())
