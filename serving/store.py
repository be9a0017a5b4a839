"""Redis reads of the serving app (``redis.asyncio``). Nothing here writes.

A request reads everything it needs about one user (or item) in ONE round trip: a small Lua
script fetches some hash fields and some whole sets and returns them framed in one string, which
costs the client no more to parse than a plain GET. Every Redis failure becomes
``StoreUnavailable`` (HTTP 503); the connection pool reconnects by itself once Redis is back.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from recommender.keys import Keys, VersionKeys
from serving.errors import StoreUnavailable
from serving.settings import ServingSettings

_BUNDLE = """
-- KEYS[1..ARGV[2]]: hashes read at field ARGV[1]; the remaining KEYS: sets read whole
-- (members joined by NUL). Each value is framed as a little-endian int32 length (-1 = missing).
local hashes = tonumber(ARGV[2])
local out = {}
for i = 1, #KEYS do
  local value
  if i <= hashes then
    value = redis.call('HGET', KEYS[i], ARGV[1])
  else
    value = table.concat(redis.call('SMEMBERS', KEYS[i]), '\\0')
  end
  if value then
    out[i] = struct.pack('<i4', #value) .. value
  else
    out[i] = struct.pack('<i4', -1)
  end
end
return table.concat(out)
"""
_BUNDLE_SHA = hashlib.sha1(_BUNDLE.encode()).hexdigest()
_BUNDLE_SHA_BYTES = _BUNDLE_SHA.encode()
_EVALSHA = b"EVALSHA"


def _pack(*args: bytes) -> bytes:
    """One command in the Redis protocol (RESP2)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


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


def _unframe(raw: bytes, count: int) -> list[bytes | None]:
    out: list[bytes | None] = []
    position = 0
    for _ in range(count):
        size = int.from_bytes(raw[position : position + 4], "little", signed=True)
        position += 4
        if size < 0:
            out.append(None)
        else:
            out.append(raw[position : position + size])
            position += size
    return out


def _unavailable(error: Exception) -> StoreUnavailable:
    return StoreUnavailable(
        f"Redis is unreachable ({error}); retry shortly, the service reconnects by itself"
    )


@asynccontextmanager
async def _unavailable_on_failure() -> AsyncIterator[None]:
    try:
        yield
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        raise _unavailable(exc) from exc


class Store:
    """Async reads of the live pointer, published versions and per-request bundles."""

    def __init__(self, client: aredis.Redis, keys: Keys) -> None:
        self.client = client
        self.keys = keys

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> Store:
        client = aredis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_seconds,
            socket_connect_timeout=settings.redis_timeout_seconds,
            retry=Retry(NoBackoff(), retries=1),
            max_connections=settings.redis_max_connections,
        )
        return cls(client, Keys(settings.prefix))

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        async with _unavailable_on_failure():
            await self.client.ping()

    async def live(self) -> dict[str, str]:
        """Model name -> namespace of its live version."""
        async with _unavailable_on_failure():
            raw = await self.client.hgetall(self.keys.live())
        return {name.decode(): namespace.decode() for name, namespace in raw.items()}

    async def version(self, keys: VersionKeys) -> VersionBlobs:
        async with _unavailable_on_failure():
            pipe = self.client.pipeline(transaction=False)
            pipe.get(keys.meta())
            pipe.get(keys.items())
            pipe.hgetall(keys.popular())
            pipe.hgetall(keys.new_items())
            meta, items, popular, new_items = await pipe.execute()
        return VersionBlobs(meta, items, popular, new_items)

    async def _call(self, command: bytes) -> Any:
        """Send one packed command and read its reply; a broken connection (e.g. after a Redis
        restart) is retried once on a fresh one, then ``StoreUnavailable``.

        The client's ``execute_command`` costs about 10 µs more per call (retries, tracing
        hooks, generic packing): too much for the one command every request makes.
        """
        try:
            return await self._send(command)
        except redis.exceptions.TimeoutError as exc:
            raise _unavailable(exc) from exc
        except redis.exceptions.ConnectionError:
            pass
        try:
            return await self._send(command)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise _unavailable(exc) from exc

    async def _send(self, command: bytes) -> Any:
        pool = self.client.connection_pool
        connection = await pool.get_connection()
        try:
            await connection.send_packed_command(command, check_health=False)
            reply = await connection.read_response()
        except redis.exceptions.ResponseError:  # the reply was read: the connection is fine
            await pool.release(connection)
            raise
        except BaseException:  # a reply may be left unread: the connection cannot be reused
            await connection.disconnect()
            await pool.release(connection)
            raise
        await pool.release(connection)
        return reply

    async def bundle(self, field: str, hashes: Sequence[str], sets: Sequence[str]) -> Bundle:
        """``HGET h field`` for each hash and ``SMEMBERS s`` for each set, in one round trip."""
        keys = [*hashes, *sets]
        command = _pack(_EVALSHA, _BUNDLE_SHA_BYTES, str(len(keys)).encode(),
                        *(key.encode() for key in keys), field.encode(), str(len(hashes)).encode())
        try:
            raw = await self._call(command)
        except redis.exceptions.NoScriptError:  # Redis restarted and lost its script cache
            async with _unavailable_on_failure():
                await self.client.script_load(_BUNDLE)
            raw = await self._call(command)
        parts = _unframe(raw, len(keys))
        members = [part.decode().split("\0") if part else [] for part in parts[len(hashes) :]]
        return Bundle(parts[: len(hashes)], members)
