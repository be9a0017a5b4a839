"""The one settings class of the serving app, read from ``RECSYS_*`` environment variables."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recommender.errors import ConfigError
from storage.keys import DEFAULT_PREFIX
from storage.settings import DEFAULT_URL

MIN_SECRET_LENGTH = 32


class ServingSettings(BaseSettings):
    """``RECSYS_REDIS_URL`` (``redis+cluster://host:port`` for a Redis Cluster),
    ``RECSYS_PREFIX``, ``RECSYS_API_KEYS`` (comma-separated), ``RECSYS_MODEL_NAME``, ...

    ``recsys serve`` resolves the URL and prefix like every command (flag > environment >
    ``recsys.toml`` > default, ``storage.settings``) and hands them to the app in the environment.

    Without ``RECSYS_API_KEYS`` the app refuses to start (``check_can_serve``), unless
    ``RECSYS_ALLOW_NO_API_KEYS=true`` says so openly: then every ``/v1`` route answers 401.

    A/B testing: ``RECSYS_ADMIN_KEYS`` (comma-separated) open the ``/v1/admin`` routes;
    ``RECSYS_SECRET`` (at least ``MIN_SECRET_LENGTH`` characters) signs ``rec_id``s (unset: a
    secret generated once and kept in Redis, so every worker agrees);
    ``RECSYS_AB_ATTRIBUTION_HOURS`` is how long after a response its ``rec_id`` still attributes
    events to its variant.
    """

    # hide_input_in_errors: a rejected secret or key list never appears in the error message
    model_config = SettingsConfigDict(env_prefix="RECSYS_", extra="ignore", frozen=True,
                                      hide_input_in_errors=True)

    redis_url: str = DEFAULT_URL
    api_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)
    allow_no_api_keys: bool = False
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
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    """Largest request body; more is 413 before it is read (``serving.limits``)."""
    max_head_bytes: int = Field(default=65_536, ge=1024)
    """Largest request line plus headers; more is 431 (enforced by ``serving.main.run``)."""
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    """A request's head is due this long after the connection opens or the previous response
    ends, its body this long after its head; else 408 (the head's deadline: ``run`` only)."""
    keep_alive_seconds: int = Field(default=5, ge=1)
    """An idle keep-alive connection is closed after this."""
    rate_limit_per_second: float = Field(default=2000.0, ge=0)
    """Requests a second per API key *per worker* (0: no limit); over it is 429."""
    rate_limit_burst: int = Field(default=4000, ge=1)
    """Requests a key may send at once above the rate (the token bucket's size)."""

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

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"RECSYS_SECRET must have at least {MIN_SECRET_LENGTH} characters (it has "
                f"{len(value.get_secret_value())}): generate one with `python -c \"import secrets; "
                f"print(secrets.token_urlsafe(32))\"`, or leave it unset to use a secret kept "
                "in Redis")
        return value


def load_settings(**overrides: Any) -> ServingSettings:
    """Settings from the environment; keyword arguments take precedence."""
    return ServingSettings(**overrides)


def check_can_serve(settings: ServingSettings) -> None:
    """Raise ``ConfigError`` unless ``settings`` can serve the API: a server without API keys
    answers 401 to every ``/v1`` request, so it starts only when asked to openly.

    Checked when the app is built, not in ``ServingSettings``: commands that read other
    settings (``recsys ab report``) need no API keys.
    """
    if not settings.api_keys and not settings.allow_no_api_keys:
        raise ConfigError(
            "no API keys: set RECSYS_API_KEYS to the comma-separated keys clients send in "
            "X-API-Key (to start anyway, with every /v1 route answering 401, set "
            "RECSYS_ALLOW_NO_API_KEYS=true)")
