"""The ``redis_cluster`` fixture is a real 3-master Redis Cluster."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio.cluster
from redis.cluster import RedisCluster

from tests.redis_cluster import ClusterProcess


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_urls(redis_cluster: ClusterProcess) -> None:
    first, *_ = redis_cluster.ports
    assert redis_cluster.url == f"redis+cluster://127.0.0.1:{first}"
    assert redis_cluster.node_urls == [f"redis://127.0.0.1:{port}" for port in redis_cluster.ports]
    for url in redis_cluster.node_urls:
        with redis.Redis.from_url(url) as node:
            assert node.ping()


def test_three_masters_share_all_slots(cluster_client: RedisCluster) -> None:
    nodes = cluster_client.cluster_nodes()
    masters = [address for address, node in nodes.items() if "master" in node["flags"]]
    assert len(masters) == 3
    assert len(cluster_client.get_primaries()) == 3
    assert cluster_client.cluster_info()["cluster_state"] == "ok"
    assert int(cluster_client.cluster_info()["cluster_slots_assigned"]) == 16384


def test_keys_spread_over_nodes(cluster_client: RedisCluster) -> None:
    owners = set()
    for tag in "abcdefghij":
        key = f"{{{tag}}}:k"
        cluster_client.set(key, tag)
        node = cluster_client.get_node_from_key(key)
        assert node is not None
        # The key really lives on that node, and only there.
        with redis.Redis(host=node.host, port=node.port) as direct:
            assert direct.get(key) == tag.encode()
        owners.add(node.name)
    assert len(owners) > 1


def test_cross_slot_is_refused(cluster_client: RedisCluster) -> None:
    assert cluster_client.keyslot("{a}:x") != cluster_client.keyslot("{b}:x")
    with pytest.raises((redis.exceptions.RedisClusterException,
                        redis.exceptions.ResponseError)) as raised:
        cluster_client.execute_command("MSET", "{a}:x", "1", "{b}:x", "2")
    assert "slot" in str(raised.value).lower()
    # Straight to a node, bypassing the client's checks: the server refuses (CROSSSLOT).
    node = cluster_client.get_node_from_key("{a}:x")
    with redis.Redis(host=node.host, port=node.port) as direct, \
            pytest.raises(redis.exceptions.ResponseError, match="same slot"):
        direct.execute_command("MSET", "{a}:x", "1", "{b}:x", "2")


def test_same_tag_lua_touches_both_keys(cluster_client: RedisCluster) -> None:
    script = """
    redis.call('SET', KEYS[1], ARGV[1])
    redis.call('SET', KEYS[2], ARGV[2])
    return redis.call('MGET', KEYS[1], KEYS[2])
    """
    keys = ["{user:7}:seen", "{user:7}:recs"]
    assert cluster_client.eval(script, 2, *keys, "a", "b") == [b"a", b"b"]
    assert cluster_client.mget(keys) == [b"a", b"b"]


@pytest.mark.anyio
async def test_async_cluster_pipeline(redis_cluster: ClusterProcess) -> None:
    client = redis.asyncio.cluster.RedisCluster.from_url(redis_cluster.node_urls[0])
    try:
        pipe = client.pipeline()
        for tag in "abcdef":
            pipe.set(f"{{{tag}}}:async", tag)
        for tag in "abcdef":
            pipe.get(f"{{{tag}}}:async")
        results = await pipe.execute()
        assert results == [True] * 6 + [tag.encode() for tag in "abcdef"]
        assert len(client.get_primaries()) == 3
    finally:
        await client.aclose()
        redis_cluster.flush()
