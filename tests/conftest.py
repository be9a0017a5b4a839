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
from typing import TYPE_CHECKING

import pytest
import redis
from redis.cluster import RedisCluster

from recsys_cli.embedded_redis import server_binary
from storage.connect import SyncClient, connect

if TYPE_CHECKING:
    from tests.redis_cluster import ClusterProcess

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


CLUSTER_TESTS = (
    "tests/serving/",
    "tests/training/test_publish.py",
    "tests/training/test_publish_atomicity.py",
    "tests/training/test_push_plan.py",
    "tests/training/test_experiments.py",
    "tests/training/test_sink.py",
    "tests/e2e/test_ab_simulation.py",
)
"""Tests of the storage layer's users that run against one Redis AND a real Redis Cluster."""


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    path = Path(metafunc.definition.fspath).as_posix()
    if "redis_backend" in metafunc.fixturenames and any(
            part in path for part in CLUSTER_TESTS):
        metafunc.parametrize("redis_backend", ["node", "cluster"], indirect=True)


@pytest.fixture
def redis_backend(request: pytest.FixtureRequest) -> str:
    """``node`` (one Redis) or ``cluster`` (the session's Redis Cluster)."""
    return getattr(request, "param", "node")


@pytest.fixture
def redis_url_for(redis_backend: str, request: pytest.FixtureRequest) -> Callable[[int], str]:
    """``redis_url_for(13)`` -> the URL of database 13 of the test server; on the cluster
    (one database only) the cluster's URL, the prefix keeping tests apart."""
    if redis_backend == "cluster":
        url = request.getfixturevalue("redis_cluster").url
        return lambda db: str(url)
    server = request.getfixturevalue("redis_server")
    return lambda db: f"{server}/{db}"


@pytest.fixture
def redis_url(redis_url_for: Callable[[int], str]) -> str:
    return redis_url_for(TEST_DB)


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[SyncClient]:
    """A sync client of ``redis_url``: ``redis.Redis`` or, on the cluster, ``RedisCluster``."""
    client = connect(redis_url)
    yield client
    client.close()


def delete_prefix(client: SyncClient, prefix: str) -> None:
    """Delete every key starting with ``prefix`` (on every node of a cluster)."""
    batch = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for key in batch:
        client.unlink(key)


@pytest.fixture
def prefix(redis_client: SyncClient) -> Iterator[str]:
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


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterProcess]:
    """A real 3-master Redis Cluster of our own, started once for the session."""
    from tests.redis_cluster import ClusterProcess  # here: that module imports free_port from us

    cluster = ClusterProcess(tmp_path_factory.mktemp("redis-cluster"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def cluster_client(redis_cluster: ClusterProcess) -> Iterator[RedisCluster]:
    """A redis-py cluster client on ``redis_cluster``; the cluster is flushed afterwards."""
    client = RedisCluster(host="127.0.0.1", port=redis_cluster.ports[0])
    try:
        yield client
    finally:
        client.close()
        redis_cluster.flush()
