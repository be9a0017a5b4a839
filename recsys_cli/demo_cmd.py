"""``recsys demo``: the whole path on embedded defaults.

synthesize -> evaluate -> train + register -> promote to champion -> publish -> serve, printing
ready-to-paste curl commands. ``--check`` makes those requests itself and exits 0 only if each
answer is right.

The demo never touches a user's own work: it registers its own model name (``demo-products``)
in its own MLflow experiment (``demo``), writes Redis keys under its own prefix (``demo:``,
unless ``RECSYS_PREFIX`` names one), and checks that its port is free before it does anything.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

DEMO_MODEL = "demo-products"
DEMO_EXPERIMENT = "demo"
DEMO_PREFIX = "demo:"
DEMO_KEY = "demo-key"
DEMO_ADMIN_KEY = "demo-admin-key"
"""The admin key of the demo's server (``RECSYS_ADMIN_KEYS`` unless set): signs in to /console."""


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


def _check_port_free(host: str, port: int) -> None:
    """Exit with a clear message if ``host:port`` cannot be listened on (before any work)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            typer.secho(
                f"error: cannot serve the demo on {host}:{port} ({exc.strerror or exc}): is a "
                f"server already running there? Stop it or pick another port with --port "
                f"(e.g. `recsys demo --port {port + 1}`)",
                fg="red",
                err=True,
            )
            raise typer.Exit(2) from None


def _serve_with_feed(server_cmd: list[str], base: str, api_key: str, events: Path) -> None:
    """Serve until Ctrl+C, after sending the last days of the synthetic events to the API
    (``demo_feed``) so that the console's live monitoring shows them."""
    from recsys_cli.demo_feed import FEED_DAYS, feed_events

    typer.secho(f"\nserving on {base} — Ctrl+C to stop\n", bold=True, err=True)
    server = subprocess.Popen(server_cmd)
    try:
        sent = feed_events(base, api_key, events)
        typer.secho(f"sent the last {FEED_DAYS} days of the demo's events ({sent}, moved to end "
                    f"now) to POST /v1/events: see {base}/console/monitoring", err=True)
        server.wait()
    except KeyboardInterrupt:
        server.terminate()
        server.wait(timeout=10)


def demo(
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="Where the synthetic data goes.")
    ] = Path("demo-data"),
    users: Annotated[int, typer.Option("--users", min=50, help="Synthetic users.")] = 2000,
    items: Annotated[int, typer.Option("--items", min=20, help="Synthetic items.")] = 300,
    days: Annotated[int, typer.Option("--days", min=7, help="Days of history.")] = 60,
    model: Annotated[str, typer.Option("--model", help="Model to train.")] = "ease",
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535)] = 8000,
    check: Annotated[
        bool, typer.Option("--check", help="Make the sample requests, print them, exit 0 if right.")
    ] = False,
) -> None:
    from recommender.config import RecsysConfig
    from recsys_cli.demo_checks import DemoRequests, pick_demo_user, run_checks
    from recsys_cli.demo_feed import check_console
    from recsys_cli.storage_opts import storage_settings
    from storage.settings import PREFIX_ENV

    _check_port_free(host, port)
    prefix = os.environ.get(PREFIX_ENV) or DEMO_PREFIX  # its own keys unless the user names some
    os.environ.update(storage_settings(RecsysConfig(), prefix=prefix).environment())
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
        DEMO_EXPERIMENT,
        "--register",
        DEMO_MODEL,
        "--alias",
        "champion",
    )
    _recsys("models", "list", DEMO_MODEL)
    _recsys("publish", f"{DEMO_MODEL}@champion")
    os.environ["RECSYS_MODEL_NAME"] = DEMO_MODEL  # the demo's server serves the demo's model

    api_keys = os.environ.get("RECSYS_API_KEYS") or DEMO_KEY
    os.environ["RECSYS_API_KEYS"] = api_keys
    api_key = api_keys.split(",")[0].strip()
    admin_keys = os.environ.get("RECSYS_ADMIN_KEYS") or DEMO_ADMIN_KEY
    os.environ["RECSYS_ADMIN_KEYS"] = admin_keys
    base = f"http://{host}:{port}"
    requests = DemoRequests.build(base, api_key, pick_demo_user(events, catalog))
    typer.secho(
        "\nMLflow runs: `make mlflow-ui`, then open http://127.0.0.1:5000 "
        f"(experiment {DEMO_EXPERIMENT!r}, model {DEMO_MODEL!r})",
        err=True,
    )
    typer.secho(
        f"Redis: {os.environ['RECSYS_REDIS_URL']}, keys under {prefix!r} "
        "(stop it with `recsys redis stop`)",
        err=True,
    )
    typer.secho(f"\nThe API on {base} (API key {api_key}); try:\n", bold=True, err=True)
    for line in requests.curl_lines():
        typer.echo(line, err=True)
    typer.secho(f"\nThe operator console: {base}/console (sign in with the admin key "
                f"{admin_keys.split(',')[0].strip()}); the API docs: {base}/docs", bold=True,
                err=True)

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
        _serve_with_feed(server_cmd, base, api_key, events)
        return
    server = subprocess.Popen(server_cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ok = run_checks(requests, wait_seconds=60.0)
        ok = check_console(base, api_key, admin_keys.split(",")[0].strip(), events,
                           DEMO_MODEL) and ok
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
