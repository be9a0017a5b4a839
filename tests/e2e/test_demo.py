"""`recsys demo --check` from an empty folder: the whole path on embedded defaults."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_demo_check_runs_the_whole_path_and_every_sample_request_is_right(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("RECSYS_REDIS_URL", "MLFLOW_TRACKING_URI", "RECSYS_API_KEYS")
    }
    command = [sys.executable, "-m", "recsys_cli.main"]
    try:
        result = subprocess.run(
            [
                *command,
                "demo",
                "--check",
                "--users",
                "600",
                "--items",
                "120",
                "--days",
                "30",
                "--port",
                str(_free_port()),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        subprocess.run(
            [*command, "redis", "stop"], cwd=tmp_path, env=env, capture_output=True, timeout=60
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "demo check passed" in result.stdout
    assert result.stdout.count("[ok  ]") == 5
    assert (tmp_path / "mlflow" / "mlflow.db").exists()
    assert (tmp_path / ".recsys" / "redis").is_dir()
    assert "curl -s -H 'X-API-Key: demo-key'" in result.stderr


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
