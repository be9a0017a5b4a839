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

import hiredis
import redis.exceptions
from redis.asyncio.connection import SSLConnection, parse_url
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

    manifest: Manifest | None
    """The version's manifest, parsed (``None``: its ``meta`` key is missing)."""
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
        if not is_cluster(client) and _Lane.serves(url):
            lane = _Lane(url, timeout_seconds, max_connections)
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
        return VersionBlobs(manifest, items, popular, new_items, similar)

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
            replies = await self._call(_bundle_commands(field, hashes, sets, sorted_sets), count)
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


# The bundle's commands in RESP2, as ``storage.connect.pack`` writes them, one formatting
# each (a request packs five or six: ``pack``'s loop cost about 9 µs of them, this about 2.5)
_HGET = b"*3\r\n$4\r\nHGET\r\n$%d\r\n%b\r\n%b"
_SMEMBERS = b"*2\r\n$8\r\nSMEMBERS\r\n$%d\r\n%b\r\n"
_ZRANGE_ALL = b"*4\r\n$6\r\nZRANGE\r\n$%d\r\n%b\r\n$1\r\n0\r\n$2\r\n-1\r\n"


def _bundle_commands(field: str, hashes: Sequence[str], sets: Sequence[str],
                     sorted_sets: Sequence[str]) -> bytes:
    """``HGET h field`` of each hash, ``SMEMBERS`` of each set, ``ZRANGE z 0 -1`` of each sorted
    set."""
    name = field.encode()
    tail = b"$%d\r\n%b\r\n" % (len(name), name)
    parts = []
    for key in hashes:
        raw = key.encode()
        parts.append(_HGET % (len(raw), raw, tail))
    for key in sets:
        raw = key.encode()
        parts.append(_SMEMBERS % (len(raw), raw))
    for key in sorted_sets:
        raw = key.encode()
        parts.append(_ZRANGE_ALL % (len(raw), raw))
    return b"".join(parts)


class _Lane:
    """The connections of the one command every request makes, kept outside redis-py.

    Measured on the recommendations route (``benchmarks/RESULTS.md``, ``## bench_serving``):
    redis-py's pool (an ``asyncio.Lock`` and observability hooks), its per-send
    ``asyncio.wait_for`` and its per-reply ``read_response`` cost about 30 µs of CPU for the
    six replies of a request; here one ``asyncio.Protocol`` per connection feeds what arrives to
    a hiredis reader and wakes the caller when the replies are all there: about 12 µs. An idle
    connection is popped from a list, the commands written and their replies awaited with a timer
    on the loop; a connection that failed or timed out is closed, never reused. At most
    ``limit`` connections are open; past that a call waits for one to come back. Plain TCP and
    Unix sockets, with the URL's password and database; a ``rediss://`` URL (TLS) uses
    redis-py's pipeline instead (``Store.connect``).
    """

    def __init__(self, url: str, timeout: float, limit: int) -> None:
        self._address = parse_url(url)
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._free = asyncio.Semaphore(limit)

    @staticmethod
    def serves(url: str) -> bool:
        """Whether a lane can connect to ``url`` (not TLS)."""
        return parse_url(url).get("connection_class") is not SSLConnection

    async def call(self, commands: bytes, count: int) -> list[Any]:
        async with self._free:
            connection = self._idle_connection()
            if connection is None:
                try:
                    async with asyncio.timeout(self._timeout):
                        connection = await self._connect()
                except TimeoutError as exc:
                    raise redis.exceptions.TimeoutError("Redis did not answer in time") from exc
            try:
                replies = await connection.call(commands, count, self._timeout)
            except BaseException:  # a reply may be left unread: the connection cannot be reused
                connection.close()
                raise
            self._idle.append(connection)
        for reply in replies:
            if isinstance(reply, redis.exceptions.ResponseError):
                raise reply
        return replies

    def _idle_connection(self) -> _Connection | None:
        """An idle connection still open; those the server closed meanwhile (a restart closes
        them all) are dropped, so that a call does not try them one by one."""
        while self._idle:
            connection = self._idle.pop()
            if connection.open:
                return connection
        return None

    async def _connect(self) -> _Connection:
        address, loop = self._address, asyncio.get_running_loop()
        try:
            if "path" in address:
                _, connection = await loop.create_unix_connection(_Connection, address["path"])
            else:
                _, connection = await loop.create_connection(
                    _Connection, address.get("host", "localhost"), address.get("port", 6379))
        except OSError as exc:
            raise redis.exceptions.ConnectionError("cannot connect to Redis") from exc
        setup = []
        if address.get("password"):
            user = address.get("username")
            setup.append(pack(b"AUTH", *([user.encode()] if user else []),
                              address["password"].encode()))
        if address.get("db"):
            setup.append(pack(b"SELECT", str(address["db"]).encode()))
        if setup:
            for reply in await connection.call(b"".join(setup), len(setup)):
                if isinstance(reply, redis.exceptions.ResponseError):
                    connection.close()
                    raise redis.exceptions.ConnectionError(f"Redis refused the connection: {reply}")
        return connection

    async def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


class _Connection(asyncio.Protocol):
    """One connection of a ``_Lane``: writes packed commands, parses replies with hiredis
    (error replies come back as ``ResponseError`` values), one call at a time."""

    def __init__(self) -> None:
        self._reader = hiredis.Reader(replyError=redis.exceptions.ResponseError)
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[list[Any]] | None = None
        self._replies: list[Any] = []
        self._expected = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    @property
    def open(self) -> bool:
        """Not closed, by us or by the server, as far as the event loop has seen."""
        return self._transport is not None

    def data_received(self, data: bytes) -> None:
        reader, replies = self._reader, self._replies
        reader.feed(data)
        while len(replies) < self._expected:
            reply = reader.gets()
            if reply is False:
                return
            replies.append(reply)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(redis.exceptions.ConnectionError("Redis closed the connection"))

    async def call(self, commands: bytes, count: int, timeout: float | None = None
                   ) -> list[Any]:
        """The replies to ``count`` packed commands; ``redis.exceptions.TimeoutError`` when
        they are not all there within ``timeout`` seconds (a timer on the loop: an
        ``asyncio.timeout`` costs several times more)."""
        if self._transport is None:
            raise redis.exceptions.ConnectionError("Redis closed the connection")
        self._replies, self._expected = [], count
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        self._transport.write(commands)
        if timeout is None:
            return await waiter
        timer = loop.call_later(timeout, _expire, waiter)
        try:
            return await waiter
        finally:
            timer.cancel()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.abort()
            self._transport = None


def _expire(waiter: asyncio.Future[list[Any]]) -> None:
    if not waiter.done():
        waiter.set_exception(redis.exceptions.TimeoutError("Redis did not answer in time"))
