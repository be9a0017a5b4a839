"""Where the data lives: the Redis URL and the key prefix, read the same way by every command
and by ``recsys serve``.

Precedence, highest first: a command-line flag, the environment (``RECSYS_REDIS_URL``,
``RECSYS_PREFIX``), ``recsys.toml`` (``[serving] redis_url`` and ``prefix``), the default
(``redis://127.0.0.1:6379/0`` and ``recsys:``; the commands start an embedded Redis instead of the
default URL when nothing names one).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from recommender.config import RecsysConfig
from storage.keys import DEFAULT_PREFIX, Keys, check_prefix

DEFAULT_URL = "redis://127.0.0.1:6379/0"
URL_ENV = "RECSYS_REDIS_URL"
PREFIX_ENV = "RECSYS_PREFIX"


@dataclass(frozen=True)
class StorageSettings:
    """The Redis URL (``None``: nothing named one) and the key prefix."""

    redis_url: str | None = None
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    @property
    def keys(self) -> Keys:
        return Keys(self.prefix)

    @property
    def url(self) -> str:
        """The URL to connect to (the default one when nothing named one)."""
        return self.redis_url or DEFAULT_URL

    def environment(self) -> dict[str, str]:
        """These settings as the environment variables that carry them to other processes."""
        env = {PREFIX_ENV: self.prefix}
        if self.redis_url:
            env[URL_ENV] = self.redis_url
        return env


def resolve(
    config: RecsysConfig | None = None,
    *,
    redis_url: str | None = None,
    prefix: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> StorageSettings:
    """Flag (the keyword arguments) > environment > ``config`` > default."""
    env = os.environ if environ is None else environ
    serving = (config or RecsysConfig()).serving
    url = redis_url or env.get(URL_ENV) or serving.redis_url or None
    chosen = prefix if prefix is not None else env.get(PREFIX_ENV) or serving.prefix
    return StorageSettings(url, chosen)
