"""Redis for the tests: the local server when one answers, else a private ``redis-server``.

Tests use their own database (``redis_url`` is db 11; ``redis_url_for(db)`` gives another) and a
unique key prefix (``prefix``), and every key under that prefix is deleted afterwards.
``RedisProcess`` starts a throwaway server on a free port, for tests that stop and restart Redis.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from recsys_cli.embedded_redis import server_binary

LOCAL_SERVER = "redis://127.0.0.1:6379"
TEST_DB = 11


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.exceptions.RedisError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisProcess:
    """A ``redis-server`` of our own, with append-only persistence in ``directory``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (no db) of a reachable Redis server."""
    configured = os.environ.get("RECSYS_TEST_REDIS_URL", LOCAL_SERVER)
    if _answers(configured):
        yield configured
        return
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def redis_url_for(redis_server: str) -> Callable[[int], str]:
    """``redis_url_for(13)`` -> the URL of database 13 of the test server."""
    return lambda db: f"{redis_server}/{db}"


@pytest.fixture
def redis_url(redis_url_for: Callable[[int], str]) -> str:
    return redis_url_for(TEST_DB)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    """Delete every key starting with ``prefix``."""
    batch = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for start in range(0, len(batch), 1000):
        client.unlink(*batch[start : start + 1000])


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test alone; its keys are deleted afterwards."""
    value = f"test:{uuid.uuid4().hex[:12]}:"
    yield value
    delete_prefix(redis_client, value)


@pytest.fixture
def redis_process(tmp_path: Path) -> Iterator[RedisProcess]:
    """A private Redis server on a free port, started; stopped after the test."""
    server = RedisProcess(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()
