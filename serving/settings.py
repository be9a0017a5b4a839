"""The one settings class of the serving app, read from ``RECSYS_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from storage.keys import DEFAULT_PREFIX
from storage.settings import DEFAULT_URL


class ServingSettings(BaseSettings):
    """``RECSYS_REDIS_URL`` (``redis+cluster://host:port`` for a Redis Cluster),
    ``RECSYS_PREFIX``, ``RECSYS_API_KEYS`` (comma-separated), ``RECSYS_MODEL_NAME``, ...

    ``recsys serve`` resolves the URL and prefix like every command (flag > environment >
    ``recsys.toml`` > default, ``storage.settings``) and hands them to the app in the environment.

    A/B testing: ``RECSYS_ADMIN_KEYS`` (comma-separated) open the ``/v1/admin`` routes;
    ``RECSYS_SECRET`` signs ``rec_id``s (unset: a secret generated once and kept in Redis, so
    every worker agrees); ``RECSYS_AB_ATTRIBUTION_HOURS`` is how long after a response its
    ``rec_id`` still attributes events to its variant.
    """

    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore", frozen=True)

    redis_url: str = DEFAULT_URL
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    model_name: str | None = None
    prefix: str = DEFAULT_PREFIX
    live_refresh_seconds: float = Field(default=1.0, ge=0)
    redis_timeout_seconds: float = Field(default=1.0, gt=0)
    redis_max_connections: int = Field(default=512, ge=1)
    admin_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    secret: SecretStr | None = None
    ab_attribution_hours: float = Field(default=24.0, gt=0)
    otel: bool = False
    """FastAPI's OpenTelemetry tracing, metrics and logs (needs a configured OTel SDK)."""

    @field_validator("api_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @field_validator("model_name", "secret", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def load_settings(**overrides: Any) -> ServingSettings:
    """Settings from the environment; keyword arguments take precedence."""
    return ServingSettings(**overrides)
