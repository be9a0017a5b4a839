"""Where the commands find Redis: ``--redis-url`` and ``--prefix``, resolved like the API's
settings (flag > ``RECSYS_REDIS_URL``/``RECSYS_PREFIX`` > ``recsys.toml`` > default), with the
embedded Redis under ``.recsys/`` when nothing names a URL."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys_cli.common import resolve_config_path

if TYPE_CHECKING:
    from recommender.config import RecsysConfig
    from storage.connect import SyncClient
    from storage.keys import Keys
    from storage.settings import StorageSettings

RedisUrlOpt = Annotated[
    str | None,
    typer.Option("--redis-url", help="Redis URL: redis://host:port/db, or "
                 "redis+cluster://host:port for a Redis Cluster (default: RECSYS_REDIS_URL, "
                 "[serving] redis_url, else the embedded Redis)."),
]
PrefixOpt = Annotated[
    str | None,
    typer.Option("--prefix", help="Key prefix (default: RECSYS_PREFIX, [serving] prefix, "
                 "else recsys:)."),
]


def storage_settings(config: RecsysConfig, redis_url: str | None = None,
                     prefix: str | None = None) -> StorageSettings:
    """The resolved settings; the embedded Redis (started if needed) when no URL is named."""
    from recsys_cli.embedded_redis import ensure_running
    from storage.settings import resolve

    try:
        settings = resolve(config, redis_url=redis_url, prefix=prefix)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if settings.redis_url is None:
        settings = replace(settings, redis_url=ensure_running().url)
    return settings


def open_storage(config_path: Path | None, redis_url: str | None = None,
                 prefix: str | None = None) -> tuple[SyncClient, Keys, RecsysConfig]:
    """A sync client, the key names and the loaded ``recsys.toml``."""
    from recommender.config import load_config
    from storage.connect import connect

    config = load_config(resolve_config_path(config_path))
    settings = storage_settings(config, redis_url, prefix)
    return connect(settings.url), settings.keys, config
