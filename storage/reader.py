"""The async side of the storage layer, for serving (``redis.asyncio``).

A request reads everything it needs about one user (or item) in ONE round trip: a few ``HGET``
and ``SMEMBERS`` sent in one write and read back together (``Store.bundle``). Plain commands
cost Redis about 9 µs for a recommendation's five, where one Lua script returning the same
values framed cost 39 µs (``INFO commandstats``, ``benchmarks/RESULTS.md``), and the hiredis
parser reads the five replies about as fast as one. On a Redis Cluster the keys of one request
live in up to three hash slots (the user's version bucket, the user's live state, the control
keys); the cluster pipeline sends each node its part, together. Every Redis failure becomes
``StoreUnavailable``; the connection pools reconnect by themselves once Redis is back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from storage.connect import AsyncClient, connect_async, is_cluster, pack
from storage.errors import StoreUnavailable
from storage.keys import Keys, VersionKeys
from storage.manifest import Manifest
from storage.scripts import Script


@dataclass(frozen=True)
class Bundle:
    """What one ``Store.bundle`` call read: hash values (``None`` if absent) and set members."""

    values: list[bytes | None]
    sets: list[list[str]]


@dataclass(frozen=True)
class VersionBlobs:
    """The raw, immutable parts of a published version that serving keeps in memory."""

    meta: bytes | None
    items: bytes | None
    popular: dict[bytes, bytes]
    new_items: dict[bytes, bytes]
    similar: dict[bytes, bytes]
    """Item id -> its encoded similar-items list (real-time personalization starts from them);
    empty when the version turns real time off."""


def unavailable(error: Exception) -> StoreUnavailable:
    """The error to raise ``from error``: its message is public, so it leaves out Redis's own
    text (which names the address); the cause keeps it for the logs."""
    return StoreUnavailable("Redis is unreachable; retry shortly, the service reconnects by itself")


@asynccontextmanager
async def unavailable_on_failure() -> AsyncIterator[None]:
    """Redis connection failures and time-outs inside the block become ``StoreUnavailable``."""
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise unavailable(exc) from exc


class Store:
    """Async reads (and the few writes serving makes) over one node or a cluster."""

    def __init__(self, client: AsyncClient, keys: Keys, lane: _Lane | None = None) -> None:
        self.client = client
        self.keys = keys
        self.cluster = is_cluster(client)
        self._lane = lane

    @classmethod
    def connect(cls, url: str, prefix: str, *, timeout_seconds: float = 1.0,
                max_connections: int = 512) -> Store:
        client = connect_async(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), retries=1),
            max_connections=max_connections,
        )
        lane = None
        if not is_cluster(client):
            pool = aredis.ConnectionPool.from_url(
                url, socket_timeout=None, socket_connect_timeout=timeout_seconds)
            lane = _Lane(pool, timeout_seconds, max_connections)
        return cls(client, Keys(prefix), lane)

    async def close(self) -> None:
        if self._lane is not None:
            await self._lane.close()
        await self.client.aclose()

    async def ping(self) -> None:
        async with unavailable_on_failure():
            await self.client.ping()

    async def version(self, keys: VersionKeys) -> VersionBlobs:
        """The version-wide keys of a namespace (one hash slot, one round trip), then its
        similar-item lists (one round trip, every item bucket)."""
        meta, items, popular, new_items = await self.pipeline(lambda pipe: (
            pipe.get(keys.meta()), pipe.get(keys.items()), pipe.hgetall(keys.popular()),
            pipe.hgetall(keys.new_items())))
        similar: dict[bytes, bytes] = {}
        manifest = Manifest.from_bytes(meta) if meta is not None else None
        if manifest is not None and manifest.realtime.enabled:
            key = keys.session if manifest.session_lists else keys.similar
            for part in await self.pipeline(lambda pipe: [
                    pipe.hgetall(key(bucket)) for bucket in range(manifest.item_buckets)]):
                similar.update(part)
        return VersionBlobs(meta, items, popular, new_items, similar)

    async def pipeline(self, queue: Callable[[Any], object]) -> list[Any]:
        """Run the commands ``queue(pipe)`` puts on a non-transactional pipeline (routed per
        node on a cluster), in one round trip per node; their replies."""
        async with unavailable_on_failure():
            pipe = self.client.pipeline(transaction=False)
            queue(pipe)
            return list(await pipe.execute())

    async def cardinalities(self, keys: Sequence[str]) -> list[int]:
        """``PFCOUNT`` of each HyperLogLog (one call each, sent together: a cluster pipeline
        refuses PFCOUNT)."""
        async with unavailable_on_failure():
            return list(await asyncio.gather(*(self.client.pfcount(key) for key in keys)))

    async def script(self, script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        """Run ``script`` (``EVALSHA``, loading it when Redis lost its script cache); the
        ``keys`` must share a hash slot."""
        async with unavailable_on_failure():
            try:
                return await self.client.evalsha(script.sha, len(keys), *keys, *args)
            except redis.exceptions.NoScriptError:
                return await self.client.eval(script.source, len(keys), *keys, *args)

    async def bundle(self, field: str, hashes: Sequence[str], sets: Sequence[str] = (),
                     sorted_sets: Sequence[str] = ()) -> Bundle:
        """``HGET h field`` for each hash, ``SMEMBERS`` of each set and ``ZRANGE 0 -1`` of each
        sorted set, in one round trip (pipelined; on a cluster, one per node holding them, sent
        together). ``Bundle.sets`` holds the members of ``sets``, then of ``sorted_sets``."""
        count = len(hashes) + len(sets) + len(sorted_sets)
        if self._lane is not None:
            name = field.encode()
            commands = b"".join([*(pack(b"HGET", key.encode(), name) for key in hashes),
                                 *(pack(b"SMEMBERS", key.encode()) for key in sets),
                                 *(pack(b"ZRANGE", key.encode(), b"0", b"-1")
                                   for key in sorted_sets)])
            replies = await self._call(commands, count)
        else:
            replies = await self.pipeline(lambda pipe: (
                [pipe.hget(key, field) for key in hashes], [pipe.smembers(key) for key in sets],
                [pipe.zrange(key, 0, -1) for key in sorted_sets]))
        return Bundle(replies[: len(hashes)],
                      [[member.decode() for member in found] for found in replies[len(hashes) :]])

    async def _call(self, commands: bytes, count: int) -> list[Any]:
        """Send ``count`` packed commands on the fast lane and read their replies; a broken
        connection (e.g. after a Redis restart) is retried once on a fresh one, then
        ``StoreUnavailable``."""
        assert self._lane is not None
        try:
            return await self._lane.call(commands, count)
        except redis.exceptions.TimeoutError as exc:
            raise unavailable(exc) from exc
        except redis.exceptions.ConnectionError:
            pass
        try:
            return await self._lane.call(commands, count)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise unavailable(exc) from exc


class _Lane:
    """The connections of the one command every request makes, kept outside redis-py's pool.

    Measured on the recommendations route (``benchmarks/RESULTS.md``, ``## bench_serving``):
    the pool's ``get_connection``/``release`` (an ``asyncio.Lock`` and observability hooks) and
    the per-send ``asyncio.wait_for`` (a task per command, because of ``socket_timeout``) cost
    about 150 µs of the ~600 µs a request took. Here an idle connection is popped from a list,
    the command written and its reply read under one ``asyncio.timeout``; a connection that
    failed is dropped, never reused. At most ``limit`` connections are open; past that a call
    waits for one to come back.
    """

    def __init__(self, pool: aredis.ConnectionPool, timeout: float, limit: int) -> None:
        self._pool = pool
        self._timeout = timeout
        self._idle: list[Any] = []
        self._free = asyncio.Semaphore(limit)

    async def call(self, commands: bytes, count: int) -> list[Any]:
        async with self._free:
            connection = self._idle.pop() if self._idle else self._pool.make_connection()
            try:
                async with asyncio.timeout(self._timeout):
                    if not connection.is_connected:
                        await connection.connect()
                    await connection.send_packed_command(commands, check_health=False)
                    reply = [await connection.read_response() for _ in range(count)]
            except TimeoutError as exc:
                await connection.disconnect(nowait=True)
                raise redis.exceptions.TimeoutError("Redis did not answer in time") from exc
            except BaseException:  # a reply may be left unread: the connection cannot be reused
                await connection.disconnect(nowait=True)
                raise
            self._idle.append(connection)
            return reply

    async def close(self) -> None:
        for connection in self._idle:
            await connection.disconnect(nowait=True)
        self._idle.clear()
