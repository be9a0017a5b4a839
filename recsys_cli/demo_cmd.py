"""``recsys demo``: the whole path on embedded defaults.

synthesize -> evaluate -> train + register -> promote to champion -> publish -> serve, printing
ready-to-paste curl commands. ``--check`` makes those requests itself and exits 0 only if each
answer is right.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

DEMO_MODEL = "products"
DEMO_KEY = "demo-key"


def register(app: typer.Typer) -> None:
    app.command(
        "demo",
        help="Run the whole path on embedded defaults and serve on http://127.0.0.1:8000.\n\n"
        "Example: recsys demo --check",
    )(demo)


def _recsys(*args: str) -> None:
    """Run one ``recsys`` command as a user would, echoing it first."""
    typer.secho(f"\n$ recsys {shlex.join(args)}", fg="cyan", err=True)
    result = subprocess.run([sys.executable, "-m", "recsys_cli.main", *args], check=False)
    if result.returncode != 0:
        typer.secho(
            f"demo stopped: `recsys {args[0]}` exited {result.returncode}", fg="red", err=True
        )
        raise typer.Exit(result.returncode)


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the synthetic data goes.")
    ] = Path("demo-data"),
    users: Annotated[int, typer.Option("--users", min=50, help="Synthetic users.")] = 2000,
    items: Annotated[int, typer.Option("--items", min=20, help="Synthetic items.")] = 300,
    days: Annotated[int, typer.Option("--days", min=7, help="Days of history.")] = 60,
    model: Annotated[str, typer.Option("--model", help="Model to train.")] = "ease",
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    check: Annotated[
        bool, typer.Option("--check", help="Make the sample requests, print them, exit 0 if right.")
    ] = False,
) -> None:
    from recommender.config import RecsysConfig
    from recsys_cli.demo_checks import DemoRequests, pick_demo_user, run_checks
    from recsys_cli.storage_opts import storage_settings

    events = data_dir / "events.csv"
    catalog = data_dir / "items.csv"
    if not events.exists() or not catalog.exists():
        _recsys(
            "data",
            "synth",
            "--out",
            str(data_dir),
            "--users",
            str(users),
            "--items",
            str(items),
            "--days",
            str(days),
            "--seed",
            "42",
        )
    _recsys(
        "evaluate",
        "--events",
        str(events),
        "--items",
        str(catalog),
        "--protocol",
        "temporal",
        "--ratio",
        "0.8",
        "--k",
        "10",
        "--models",
        "pop,itemknn,als,ease",
    )
    _recsys(
        "train",
        "--events",
        str(events),
        "--items",
        str(catalog),
        "--model",
        model,
        "--protocol",
        "temporal",
        "--ratio",
        "0.8",
        "--experiment",
        "demo",
        "--register",
        DEMO_MODEL,
        "--alias",
        "champion",
    )
    _recsys("models", "list", DEMO_MODEL)
    os.environ.update(storage_settings(RecsysConfig()).environment())
    _recsys("publish", f"{DEMO_MODEL}@champion")

    api_keys = os.environ.get("RECSYS_API_KEYS") or DEMO_KEY
    os.environ["RECSYS_API_KEYS"] = api_keys
    api_key = api_keys.split(",")[0].strip()
    base = f"http://{host}:{port}"
    requests = DemoRequests.build(base, api_key, pick_demo_user(events, catalog))
    typer.secho(
        "\nMLflow runs: `make mlflow-ui`, then open http://127.0.0.1:5000 "
        "(experiment 'demo', model 'products')",
        err=True,
    )
    typer.secho(
        f"Redis: {os.environ['RECSYS_REDIS_URL']} (stop it with `recsys redis stop`)", err=True
    )
    typer.secho(f"\nThe API on {base} (API key {api_key}); try:\n", bold=True, err=True)
    for line in requests.curl_lines():
        typer.echo(line, err=True)

    server_cmd = [
        sys.executable,
        "-m",
        "recsys_cli.main",
        "serve",
        "--host",
        host,
        "--port",
        str(port),
    ]
    if not check:
        typer.secho(f"\nserving on {base} — Ctrl+C to stop\n", bold=True, err=True)
        os.execv(sys.executable, server_cmd)
    server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ok = run_checks(requests, wait_seconds=60.0)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
    time.sleep(0.1)
    if not ok:
        typer.secho("demo check FAILED", fg="red", err=True)
        raise typer.Exit(1)
    typer.secho("demo check passed: every sample request answered correctly", fg="green")
