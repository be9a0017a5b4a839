"""Redis clients from a URL: ``redis://`` (one node) or ``redis+cluster://`` (a Redis Cluster).

``redis+cluster://host:port`` names any node of a cluster (Gorse's DSN convention); the client
discovers the others. ``rediss+cluster://`` is the same over TLS. Everything else is handed to
redis-py's ``from_url`` as it is. The sync clients are for jobs (publish, push plans, the sink,
experiments), the async ones for serving.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

CLUSTER_SCHEMES = {"redis+cluster": "redis", "rediss+cluster": "rediss"}

SyncClient = redis.Redis | RedisCluster
AsyncClient = aredis.Redis | AsyncRedisCluster


def cluster_url(url: str) -> str | None:
    """The plain ``redis://`` URL of a ``redis+cluster://`` one, ``None`` for other URLs."""
    scheme, sep, rest = url.partition("://")
    if sep and scheme in CLUSTER_SCHEMES:
        return f"{CLUSTER_SCHEMES[scheme]}://{rest}"
    return None


def is_cluster(client: object) -> bool:
    return isinstance(client, RedisCluster | AsyncRedisCluster)


def connect(url: str, **options: Any) -> SyncClient:
    """A synchronous client for ``url`` (bytes replies)."""
    plain = cluster_url(url)
    if plain is not None:
        return RedisCluster.from_url(plain, **options)
    return redis.Redis.from_url(url, **options)


def connect_async(url: str, **options: Any) -> AsyncClient:
    """An asyncio client for ``url`` (bytes replies). A cluster client takes
    ``max_connections`` per node."""
    plain = cluster_url(url)
    if plain is not None:
        options.pop("retry", None)  # the cluster client retries by moving slots itself
        return AsyncRedisCluster.from_url(plain, **options)
    return aredis.Redis.from_url(url, **options)


def pack(*args: bytes) -> bytes:
    """One command in the Redis protocol (RESP2)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)
