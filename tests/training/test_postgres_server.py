"""Any tracking URI works: train and register through an ``mlflow server`` on PostgreSQL.

The test creates a fresh database on the local PostgreSQL (``postgres@127.0.0.1:5432``), starts
``mlflow server`` on it with proxied artifacts, runs ``recsys train --register --alias`` against
it over HTTP, loads the version back, then stops the server and drops the database. It is skipped
when PostgreSQL does not answer.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from typer.testing import CliRunner

from recommender.synth import SynthData
from recsys_cli.main import app
from training.model_store import load_version

PG = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
STARTUP_SECONDS = 180

pytestmark = pytest.mark.slow


def _admin() -> object:
    psycopg2 = pytest.importorskip("psycopg2")
    try:
        connection = psycopg2.connect(dbname="postgres", connect_timeout=3, **PG)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at postgres@127.0.0.1:5432 ({exc})".strip())
    connection.autocommit = True
    return connection


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database, dropped afterwards."""
    admin = _admin()
    name = f"recsys_test_{uuid.uuid4().hex[:12]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        # SQLAlchemy's default PostgreSQL driver is psycopg 3; psycopg2 is what is installed.
        yield f"postgresql+psycopg2://{PG['user']}@{PG['host']}:{PG['port']}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server and the workers it started (its own process group)."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[str]:
    """``mlflow server`` on ``database`` with artifacts under ``tmp_path``; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    command = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", database,
        "--artifacts-destination", str(tmp_path / "artifacts"), "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    env.pop("MLFLOW_TRACKING_URI", None)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env,
                               cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _healthy(url):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                output = (tmp_path / "server.log").read_text()
                pytest.fail(f"mlflow server did not start:\n{output}")
            time.sleep(1)
        yield url
    finally:
        _stop(process)
        log.close()


def test_train_and_register_through_a_server_on_postgresql(
    server: str, shop: SynthData, shop_files: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    events, items = shop_files
    result = CliRunner().invoke(app, [
        "train", "--events", str(events), "--items", str(items), "--model", "als",
        "--param", "factors=16", "--experiment", "postgres-tests", "--register", "pg-shop",
        "--alias", "champion", "--json",
    ])
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["version"] == "1" and payload["params"]["factors"] == 16

    assert mlflow.get_tracking_uri() == server
    loaded = load_version("pg-shop@champion")
    assert (loaded.name, loaded.version) == ("pg-shop", "1")
    assert loaded.metrics["ndcg@10"] == pytest.approx(payload["test"]["ndcg@10"])
    frame = mlflow.pyfunc.load_model("models:/pg-shop@champion").predict(
        pd.DataFrame({"user_id": shop.events["user_id"].head(1)}), params={"n": 3}
    )
    assert frame["rank"].tolist() == [1, 2, 3]
    mlflow.set_tracking_uri("")
