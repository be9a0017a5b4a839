"""``recsys publish`` and ``recsys serve``: from a registered version to the HTTP API."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from recsys_cli.common import ConfigOpt, JsonOpt, fail, guarded, resolve_config_path
from recsys_cli.storage_opts import PrefixOpt, RedisUrlOpt, storage_settings

PUBLISH_EXAMPLE = ("Example: recsys publish products@champion --top-n 100 "
                   "[--engine spark --spark-master spark://host:7077]")
PUBLISH_ENGINES = ("local", "spark")
SERVE_EXAMPLE = "Example: RECSYS_API_KEYS=secret recsys serve --port 8000"


def register(app: typer.Typer) -> None:
    app.command("publish", help=f"Precompute a model version into Redis.\n\n{PUBLISH_EXAMPLE}")(
        publish
    )
    app.command("serve", help=f"Serve the HTTP API from Redis.\n\n{SERVE_EXAMPLE}")(serve)


@guarded
def publish(
    ref: Annotated[str, typer.Argument(help="NAME@ALIAS or NAME/VERSION of a registered model.")],
    top_n: Annotated[int, typer.Option("--top-n", min=1, max=1000, help="List length.")] = 100,
    config: ConfigOpt = None,
    redis_url: RedisUrlOpt = None,
    prefix: PrefixOpt = None,
    as_json: JsonOpt = False,
    make_default: Annotated[
        bool, typer.Option("--default", help="Make this model the default: the one `recsys "
                           "serve` uses without RECSYS_MODEL_NAME (the first model published "
                           "is the default).")
    ] = False,
    engine: Annotated[
        str, typer.Option("--engine", help="local (this process, the default) or spark (the "
                          "per-user lists written from Spark partitions; als and bpr models).")
    ] = "local",
    spark_master: Annotated[
        str, typer.Option("--spark-master", help="Spark master URL of --engine spark.")
    ] = "local[*]",
) -> None:
    import dataclasses
    import json

    from recommender.config import load_config
    from recsys_cli.publishing import publish_ref
    from storage.connect import connect
    from storage.live import set_default

    if engine not in PUBLISH_ENGINES:
        fail(f"--engine must be one of {', '.join(PUBLISH_ENGINES)}, got {engine!r}")
    cfg = load_config(resolve_config_path(config))
    stats = publish_ref(ref, cfg, top_n=top_n, quiet=as_json, redis_url=redis_url,
                        prefix=prefix, spark_master=spark_master if engine == "spark" else None)
    if make_default and stats.default_model != stats.name:
        settings = storage_settings(cfg, redis_url, prefix)
        set_default(connect(settings.url), settings.keys, stats.name)
        stats = dataclasses.replace(stats, default_model=stats.name)
    if as_json:
        typer.echo(json.dumps(stats.__dict__))
        return
    typer.echo(
        f"published {stats.name} version {stats.version} as {stats.namespace}: "
        f"{stats.users:,} users, {stats.items:,} items, {stats.keys:,} keys, "
        f"{stats.bytes / 1e6:.1f} MB, {stats.list_bytes:.0f} bytes per {top_n}-item list, "
        f"{stats.seconds:.1f} s"
        + (f" (previous {stats.previous} kept until it expires)" if stats.previous else "")
    )
    if stats.default_model != stats.name:
        typer.echo(
            f"serving keeps using the default model {stats.default_model!r}; to serve "
            f"{stats.name!r}, set RECSYS_MODEL_NAME={stats.name} for `recsys serve`, or make it "
            f"the default with `recsys publish {ref} --default`"
        )
    elif make_default:
        typer.echo(f"{stats.name!r} is the default model: servers without RECSYS_MODEL_NAME "
                   "serve it within a second")


def serve(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 1,
    config: ConfigOpt = None,
    redis_url: RedisUrlOpt = None,
    prefix: PrefixOpt = None,
) -> None:
    from recommender.config import load_config

    settings = storage_settings(load_config(resolve_config_path(config)), redis_url, prefix)
    os.environ.update(settings.environment())  # the workers read their settings from it
    from serving.main import run

    run(host=host, port=port, workers=workers)
