"""``recsys serve`` reads its key prefix from ``recsys.toml`` (``[serving] prefix``), as every
other command does: the shop is published under a prefix named only in the TOML file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from storage.connect import SyncClient
from tests.conftest import free_port
from tests.serving import world

API_KEY = "k1"
READY_SECONDS = 30.0


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """Status and JSON body of a GET (an HTTP error status is returned, not raised)."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if body else None


def _wait_ready(base: str, server: subprocess.Popen[str]) -> tuple[int, Any]:
    """The first 200 of ``/readyz``, else the last answer after ``READY_SECONDS``."""
    deadline = time.monotonic() + READY_SECONDS
    last: tuple[int, Any] = (0, "no answer")
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return (0, f"the server exited {server.returncode}")
        try:
            last = _get(f"{base}/readyz")
        except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
            last = (0, repr(error))
        if last[0] == 200:
            return last
        time.sleep(0.2)
    return last


def test_serve_reads_the_key_prefix_from_recsys_toml(
    tmp_path: Path, redis_client: SyncClient, redis_url: str, prefix: str
) -> None:
    world.publish(redis_client, prefix)
    config = tmp_path / "recsys.toml"
    config.write_text(f'[serving]\nprefix = "{prefix}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("RECSYS_PREFIX", "RECSYS_MODEL_NAME")}
    env.update(RECSYS_REDIS_URL=redis_url, RECSYS_API_KEYS=API_KEY)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "recsys_cli.main", "serve", "--config", str(config),
         "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        status, ready = _wait_ready(base, server)
        popular_status, popular = _get(f"{base}/v1/popular?kind=product",
                                       {"X-API-Key": API_KEY}) if status == 200 else (0, None)
    finally:
        server.terminate()
        try:
            _, stderr = server.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            _, stderr = server.communicate()
    assert status == 200, f"/readyz: {status} {ready}\n{stderr[-3000:]}"
    assert ready["status"] == "ready"
    assert ready["model"]["name"] == "shop"
    assert popular_status == 200, f"/v1/popular: {popular_status} {popular}\n{stderr[-3000:]}"
    assert [item["item_id"] for item in popular["items"]][:1] == ["p1"]  # the most bought
