"""``storage.reader``'s lane: the request path's own Redis connections (password, database,
error replies, a server that goes away), on a private redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.exceptions

from storage.connect import pack
from storage.errors import StoreUnavailable
from storage.reader import Bundle, Store, _bundle_commands
from tests.conftest import RedisProcess


def _url(server: RedisProcess, password: str, db: int) -> str:
    return f"redis://:{password}@127.0.0.1:{server.port}/{db}"


def test_the_lane_authenticates_selects_the_database_and_reads_a_bundle(
        redis_process: RedisProcess) -> None:
    admin = redis.Redis.from_url(redis_process.url)
    admin.config_set("requirepass", "s3cret")
    client = redis.Redis.from_url(_url(redis_process, "s3cret", 3))
    client.hset("h", "u1", b"list")
    client.sadd("s", "a", "b")
    client.zadd("z", {"x": 1, "y": 2})

    async def read() -> tuple[Bundle, Bundle]:
        store = Store.connect(_url(redis_process, "s3cret", 3), "")
        try:
            assert store._lane is not None  # the fast path, not redis-py's pipeline
            first = await store.bundle("u1", ["h", "missing"], ["s"], ["z"])
            second = await store.bundle("u2", ["h"], ["nothing"])
            return first, second
        finally:
            await store.close()

    first, second = asyncio.run(read())
    assert first.values == [b"list", None]
    assert sorted(first.sets[0]) == ["a", "b"] and first.sets[1] == ["x", "y"]
    assert second.values == [None] and second.sets == [[]]


def test_a_wrong_password_or_a_stopped_server_is_store_unavailable(
        redis_process: RedisProcess) -> None:
    redis.Redis.from_url(redis_process.url).config_set("requirepass", "right")

    async def read(url: str) -> None:
        store = Store.connect(url, "")
        try:
            await store.bundle("u1", ["h"])
        finally:
            await store.close()

    with pytest.raises(StoreUnavailable):
        asyncio.run(read(_url(redis_process, "wrong", 0)))
    redis_process.stop()
    with pytest.raises(StoreUnavailable):
        asyncio.run(read(_url(redis_process, "right", 0)))


def test_an_error_reply_is_raised_and_the_connection_stays_usable(
        redis_process: RedisProcess) -> None:
    redis.Redis.from_url(redis_process.url).sadd("a-set", "x")

    async def read() -> list[list[str]]:
        store = Store.connect(redis_process.url, "")
        try:
            with pytest.raises(redis.exceptions.ResponseError, match="WRONGTYPE"):
                await store.bundle("u1", ["a-set"])
            return (await store.bundle("u1", [], ["a-set"])).sets
        finally:
            await store.close()

    assert asyncio.run(read()) == [["x"]]


def test_a_restarted_server_is_reconnected_to(redis_process: RedisProcess) -> None:
    async def scenario() -> list[bytes | None]:
        store = Store.connect(redis_process.url, "")
        try:  # several idle connections, all broken by the restart: none is tried twice
            await asyncio.gather(*(store.bundle("u1", ["h"]) for _ in range(4)))
            redis_process.stop()
            redis_process.start()
            redis.Redis.from_url(redis_process.url).hset("h", "u1", b"back")
            return (await store.bundle("u1", ["h"])).values
        finally:
            await store.close()

    assert asyncio.run(scenario()) == [b"back"]


def test_tls_urls_use_redis_py() -> None:
    store = Store.connect("rediss://127.0.0.1:1/0", "")
    assert store._lane is None
    asyncio.run(store.close())


def test_a_server_that_does_not_answer_is_store_unavailable_in_time() -> None:
    """A connection whose replies do not come within the timeout is closed and the call is
    ``StoreUnavailable``; the next call opens a fresh connection (which times out too)."""

    async def scenario() -> tuple[float, int]:
        opened = 0

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal opened
            opened += 1
            await reader.read()  # until the client closes: never a reply

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        store = Store.connect(f"redis://127.0.0.1:{port}/0", "", timeout_seconds=0.2)
        try:
            started = asyncio.get_running_loop().time()
            async with asyncio.timeout(10):  # a lane without its timeout fails here, not hangs
                for _ in range(2):
                    with pytest.raises(StoreUnavailable):
                        await store.bundle("u1", ["h"])
            return asyncio.get_running_loop().time() - started, opened
        finally:
            await store.close()
            server.close()

    elapsed, opened = asyncio.run(scenario())
    assert 0.4 <= elapsed < 5  # two timeouts of 0.2 s, not a hang
    assert opened == 2  # the timed-out connection was not reused


def test_the_bundles_commands_are_what_pack_writes() -> None:
    """The bundle's one-format commands are byte for byte ``pack``'s (keys and field in
    UTF-8, as redis-py sends them)."""
    commands = _bundle_commands("用户-7", ["h:{a}", "h:{b}"], ["s"], ["z:最近", "z2"])
    assert commands == b"".join([
        pack(b"HGET", b"h:{a}", "用户-7".encode()), pack(b"HGET", b"h:{b}", "用户-7".encode()),
        pack(b"SMEMBERS", b"s"), pack(b"ZRANGE", "z:最近".encode(), b"0", b"-1"),
        pack(b"ZRANGE", b"z2", b"0", b"-1")])
    assert _bundle_commands("u", [], [], []) == b""
