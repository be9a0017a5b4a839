"""``recsys redis``: the embedded Redis server (used when RECSYS_REDIS_URL is not set)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="The embedded Redis server under .recsys/ (when RECSYS_REDIS_URL is unset).",
    no_args_is_help=True,
)


@app.command("start", help="Start (or reuse) the embedded Redis.\n\nExample: recsys redis start")
def start() -> None:
    from recsys_cli import embedded_redis

    server = embedded_redis.ensure_running()
    state = "started" if server.started else "already running"
    typer.echo(f"embedded Redis {state}: {server.url} (data in {server.directory})")


@app.command(
    "stop", help="Stop the embedded Redis, keeping its data.\n\nExample: recsys redis stop"
)
def stop() -> None:
    from recsys_cli import embedded_redis

    if embedded_redis.stop():
        typer.echo("embedded Redis stopped (data kept in .recsys/redis)")
    else:
        typer.echo("embedded Redis was not running")


@app.command("url", help="Print the Redis URL commands use.\n\nExample: recsys redis url")
def url() -> None:
    from recsys_cli import embedded_redis

    typer.echo(embedded_redis.redis_url())
