"""``recsys.toml``: loading and validation.

Every section is optional and has the defaults of the spec. Errors name the key and what was
expected. Environment variables are read by the applications (``training``, ``serving``),
never here.
"""

from __future__ import annotations

import re
import tomllib
from datetime import time
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from recommender.errors import ConfigError

DEFAULT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "favorite": 3.0,
    "cart": 4.0,
    "share": 4.0,
    "purchase": 8.0,
}

_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def parse_hhmm(value: str) -> time:
    """``"07:30"`` -> ``time(7, 30)``; raises ``ValueError`` naming the expected form."""
    match = _HHMM.match(value.strip())
    if not match:
        raise ValueError(f"expected a time as HH:MM (24-hour), got {value!r}")
    return time(int(match.group(1)), int(match.group(2)))


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EventsConfig(_Section):
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    half_life_days: float = Field(default=30.0, ge=0)

    @field_validator("weights")
    @classmethod
    def _positive(cls, weights: dict[str, float]) -> dict[str, float]:
        for name, weight in weights.items():
            if weight < 0:
                raise ValueError(f"weight of {name!r} must be >= 0, got {weight}")
        if not weights:
            raise ValueError("at least one event type needs a weight")
        return weights


class SlotConfig(_Section):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]*$")
    start: str
    end: str
    categories: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    boost: float = Field(default=2.0, gt=0)
    push: bool = False
    push_items: int = Field(default=3, ge=1, le=20)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        parse_hhmm(value)
        return value

    @model_validator(mode="after")
    def _selects_something(self) -> SlotConfig:
        if not self.categories and not self.tags:
            raise ValueError(f"slot {self.name!r} needs categories = [...] or tags = [...]")
        return self

    @property
    def start_time(self) -> time:
        return parse_hhmm(self.start)

    @property
    def end_time(self) -> time:
        return parse_hhmm(self.end)


def _default_slots() -> list[SlotConfig]:
    return [
        SlotConfig(
            name="breakfast",
            start="06:30",
            end="09:30",
            categories=["breakfast"],
            boost=2.0,
            push=True,
            push_items=3,
        ),
        SlotConfig(
            name="lunch",
            start="11:00",
            end="13:30",
            categories=["lunch"],
            boost=1.5,
            push=True,
            push_items=3,
        ),
        SlotConfig(
            name="dinner",
            start="17:00",
            end="20:00",
            categories=["dinner"],
            boost=1.5,
            push=True,
            push_items=3,
        ),
    ]


class RulesConfig(_Section):
    timezone: str = "Asia/Shanghai"
    slots: list[SlotConfig] = Field(default_factory=_default_slots)
    repeatable_categories: list[str] = Field(default_factory=list)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"expected an IANA time zone such as 'Asia/Shanghai', got {value!r}"
            ) from exc
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> RulesConfig:
        names = [slot.name for slot in self.slots]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"slot names must be unique, repeated: {duplicated}")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    """The zone named ``name`` (a request asks for it several times: ``ZoneInfo`` checks its own
    cache at several times the cost)."""
    return ZoneInfo(name)


class PushConfig(_Section):
    max_per_user_per_day: int = Field(default=2, ge=0)
    quiet_hours: str = "22:00-06:30"
    no_repeat_days: int = Field(default=7, ge=0)
    min_affinity: float = Field(default=0.0, ge=0)

    @field_validator("quiet_hours")
    @classmethod
    def _range(cls, value: str) -> str:
        if value == "":
            return value
        parts = value.split("-")
        if len(parts) != 2:
            raise ValueError(f"expected 'HH:MM-HH:MM' or '', got {value!r}")
        parse_hhmm(parts[0])
        parse_hhmm(parts[1])
        return value


class ModelsConfig(_Section):
    """Default hyper-parameters per model name, e.g. ``[models.als] factors = 64``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def params_for(self, name: str) -> dict[str, Any]:
        extra = self.model_extra or {}
        value = extra.get(name, {})
        if not isinstance(value, dict):
            raise ConfigError(f"models.{name}: expected a table of parameters, got {value!r}")
        return dict(value)


class ServingConfig(_Section):
    top_n: int = Field(default=100, ge=1, le=1000)
    new_item_days: int = Field(default=14, ge=0)
    new_item_max_events: int = Field(default=20, ge=0)
    prefix: str = "recsys:"
    redis_url: str | None = None


class RealtimeConfig(_Section):
    """``[realtime]``: what a user's live events (``POST /v1/events``) change at once
    (``recommender.realtime``). Defaults chosen by the replay (``benchmarks/RESULTS.md``)."""

    enabled: bool = True
    max_items: int = Field(default=20, ge=1, le=200)
    """Most recent items kept per user (live state, ``storage.events``)."""
    window_hours: float = Field(default=72.0, gt=0, le=24 * 30)
    """How long a live event counts; also the expiry of the user's live state."""
    session_items: int = Field(default=5, ge=1, le=50)
    """The newest live items whose similar items become session candidates."""
    session_depth: int = Field(default=30, ge=1, le=1000)
    """How many of each live item's similar items (best first) are session candidates."""
    decay: float = Field(default=0.7, gt=0, le=1)
    """Weight of each older live item relative to the next newer one."""
    session_offset: int = Field(default=2, ge=1, le=1000)
    """Session ranking: a live item's similar item at rank r (from 1) adds
    ``weight / (session_offset + r)``."""
    session_weight: float = Field(default=1.5, ge=0)
    """A known user's list: weight of the session ranking against the published list."""
    new_user_weight: float = Field(default=2.0, ge=0)
    """A user the model does not know: weight of the session ranking against popular."""
    offset: int = Field(default=10, ge=1, le=1000)
    """Rank fusion: a list's item at rank r (from 1) adds ``weight / (offset + r)``."""
    trending_hours: int = Field(default=24, ge=1, le=24 * 7)
    """The window of the trending list (popularity over live events)."""
    trending_weight: float = Field(default=0.5, ge=0)
    """Popular lists: weight of trending against the training popularity."""
    trending_items: int = Field(default=1000, ge=10, le=100_000)
    """Items kept per hour of trending counts (the least counted are trimmed)."""


class RecsysConfig(_Section):
    events: EventsConfig = Field(default_factory=EventsConfig)
    rules: RulesConfig = Field(default_factory=RulesConfig)
    push: PushConfig = Field(default_factory=PushConfig)
    models: ModelsConfig = Field(default_factory=ModelsConfig)
    serving: ServingConfig = Field(default_factory=ServingConfig)
    realtime: RealtimeConfig = Field(default_factory=RealtimeConfig)


def _describe(error: ValidationError, source: str) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{source}: {key}: {message}")
    return "\n".join(lines)


def config_from_dict(data: dict[str, Any], source: str = "recsys.toml") -> RecsysConfig:
    try:
        return RecsysConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, source)) from None


def load_config(path: str | Path | None = None) -> RecsysConfig:
    """Read ``recsys.toml``. ``None`` or a missing default file gives the defaults."""
    if path is None:
        return RecsysConfig()
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such configuration file")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return config_from_dict(data, str(path))


def parse_weights(text: str, base: dict[str, float] | None = None) -> dict[str, float]:
    """``"view=1,purchase=8"`` -> weights. Listed types override ``base``; others keep it.

    The known event types are those of ``DEFAULT_WEIGHTS`` and of ``base`` (``[events] weights``
    of ``recsys.toml``, where a custom type is defined); any other name is a ``ConfigError``
    listing them, so that a typo never passes as a new type with no events.
    """
    weights = dict(base or {})
    known = list(dict.fromkeys([*DEFAULT_WEIGHTS, *weights]))
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = (piece.strip() for piece in part.partition("="))
        if not sep or not name:
            raise ConfigError(f"expected EVENT=NUMBER pairs, got {part!r}")
        if name not in known:
            raise ConfigError(
                f"unknown event type {name!r}; known: {', '.join(known)} (a new type needs a "
                "weight under [events] weights in recsys.toml)"
            )
        try:
            weight = float(value)
        except ValueError:
            raise ConfigError(f"weight of {name!r} must be a number, got {value!r}") from None
        if weight < 0:
            raise ConfigError(f"weight of {name!r} must be >= 0, got {weight}")
        weights[name] = weight
    return weights


def parse_params(pairs: list[str]) -> dict[str, dict[str, Any]]:
    """``["als.factors=32", "ease.l2=300"]`` -> ``{"als": {"factors": 32}, "ease": {"l2": 300.0}}``.

    Values are read as TOML scalars (ints, floats, booleans, quoted strings); bare words stay
    strings.
    """
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        model, dot, name = key.strip().partition(".")
        if not sep or not dot or not model or not name:
            raise ConfigError(f"--param: expected MODEL.NAME=VALUE, got {pair!r}")
        out.setdefault(model, {})[name] = _scalar(raw.strip())
    return out


def _scalar(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw
