"""`recsys demo --check` from an empty folder: the whole path on embedded defaults."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from storage.connect import connect
from storage.keys import Keys

if TYPE_CHECKING:
    from tests.redis_cluster import ClusterProcess

pytestmark = pytest.mark.slow

RECSYS = [sys.executable, "-m", "recsys_cli.main"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the settings the demo must choose itself."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RECSYS_REDIS_URL", "RECSYS_PREFIX", "MLFLOW_TRACKING_URI",
                     "RECSYS_API_KEYS")
    }
    env.update(extra)
    return env


def _run_demo(
    tmp_path: Path, env: dict[str, str], port: int | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """``recsys demo --check`` on a small shop from ``tmp_path``; any embedded Redis stopped."""
    try:
        result = subprocess.run(
            [
                *RECSYS,
                "demo",
                *(["--check"] if check else []),
                "--users",
                "600",
                "--items",
                "120",
                "--days",
                "30",
                "--port",
                str(port or _free_port()),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        subprocess.run(
            [*RECSYS, "redis", "stop"], cwd=tmp_path, env=env, capture_output=True, timeout=60
        )
    return result


def test_demo_check_runs_the_whole_path_and_every_sample_request_is_right(tmp_path: Path) -> None:
    result = _run_demo(tmp_path, _clean_env())
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo check passed" in result.stdout
    assert result.stdout.count("[ok  ]") == 7  # 5 requests, the console's overview and monitoring
    assert "The operator console: http://127.0.0.1:" in result.stderr
    assert (tmp_path / "mlflow" / "mlflow.db").exists()
    assert (tmp_path / ".recsys" / "redis").is_dir()
    assert "curl -s -H 'X-API-Key: demo-key'" in result.stderr
    _assert_the_demo_kept_to_its_own_names(tmp_path)


def _assert_the_demo_kept_to_its_own_names(tmp_path: Path) -> None:
    """Only ``demo-products`` registered, in experiment ``demo``; Redis keys only under
    ``demo:`` (the embedded Redis restarted from its append-only file to look)."""
    from mlflow.tracking import MlflowClient

    from recsys_cli.embedded_redis import ensure_running, stop

    uri = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    store = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert [m.name for m in store.search_registered_models()] == ["demo-products"]
    assert store.get_experiment_by_name("demo") is not None
    root = tmp_path / ".recsys"
    client = connect(ensure_running(root).url)
    try:
        assert list(client.hgetall(Keys("demo:").live())) == [b"demo-products"]
        assert not list(client.scan_iter(match="recsys:*", count=1000))
    finally:
        client.close()
        stop(root)


def test_demo_refuses_a_taken_port_before_it_does_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = int(taken.getsockname()[1])
        result = _run_demo(tmp_path, _clean_env(), port=port, check=False)
    assert result.returncode == 2, result.stderr[-3000:]
    assert f"127.0.0.1:{port}" in result.stderr and "--port" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no data, no store, no Redis


def test_demo_check_runs_on_a_redis_cluster_under_the_environment_prefix(
    tmp_path: Path, redis_cluster: ClusterProcess
) -> None:
    prefix = f"demo-{uuid.uuid4().hex[:12]}:"
    client = connect(redis_cluster.url)
    try:
        result = _run_demo(
            tmp_path, _clean_env(RECSYS_REDIS_URL=redis_cluster.url, RECSYS_PREFIX=prefix)
        )
        written = [key.decode() for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "demo check passed" in result.stdout
        assert result.stdout.count("[ok  ]") == 7
        assert f"Redis: {redis_cluster.url}" in result.stderr
        assert not (tmp_path / ".recsys" / "redis").exists()  # no embedded Redis was started
        # The demo published under the prefix, on more than one node of the cluster.
        assert Keys(prefix).live() in written
        nodes = {client.get_node_from_key(key).name for key in written}
        assert len(nodes) > 1, written
    finally:
        for key in client.scan_iter(match=f"{prefix}*", count=1000):
            client.unlink(key)
        client.close()


@pytest.mark.parametrize(
    ("now", "want"),
    [
        ("2026-11-23T00:30:00+08:00", "2026-11-23T07:30:00+08:00"),  # still to come today
        ("2026-11-23T07:30:00+08:00", "2026-11-24T07:30:00+08:00"),
        ("2026-11-22T16:00:00+00:00", "2026-11-23T07:30:00+08:00"),  # 00:00 in Shanghai
        ("2026-11-23T23:59:00+08:00", "2026-11-24T07:30:00+08:00"),
    ],
)
def test_the_demo_breakfast_time_is_the_next_0730_in_shanghai(now: str, want: str) -> None:
    from datetime import datetime

    from recsys_cli.demo_checks import breakfast_time

    got = breakfast_time(datetime.fromisoformat(now))
    assert got == want
    ahead = datetime.fromisoformat(got) - datetime.fromisoformat(now)
    assert 0 < ahead.total_seconds() <= 24 * 3600  # the events API takes up to a day ahead
