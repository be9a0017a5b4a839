"""``/v1/admin``: what the operator console shows, as JSON: the live and retained versions,
health, live monitoring, and making a retained version live again (rollback).

Behind an admin key in ``X-API-Key`` or a console session (``serving.console.session``).
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Annotated

import redis.exceptions
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from recommender.config import DEFAULT_WEIGHTS, RulesConfig
from recommender.errors import ModelError
from serving.deps import SettingsDep, StoreDep
from serving.errors import NotFound, ServingError
from serving.schemas import UNAUTHORIZED, UNAVAILABLE, _error
from storage import monitoring
from storage.connect import connect
from storage.errors import NoLiveModel, StorageError
from storage.keys import name_version
from storage.live import choose, parse_pointers, queue_pointers
from storage.manifest import Manifest
from storage.writer import RETAIN_SECONDS, make_live

router = APIRouter(prefix="/v1/admin", tags=["admin"])

ADMIN_ERRORS = {
    **UNAUTHORIZED,
    403: _error("forbidden", "this API key may not use /v1/admin; use one of RECSYS_ADMIN_KEYS",
                "An API key that is not an admin key, or a console request without its CSRF "
                "token (`csrf_failed`)"),
    **UNAVAILABLE,
}


class Conflict(ServingError):
    status, code = 409, "conflict"


MAX_MODELS = 50
"""The most model names and retained versions the overview lists."""


class VersionInfo(BaseModel):
    name: str
    version: str
    namespace: str
    published_at: datetime
    algorithm: str
    metrics: dict[str, float] = Field(description="Offline test metrics recorded at publish")
    users: int
    items: int
    live: bool
    expires_in_seconds: int | None = Field(
        description="Seconds until its keys expire (null: kept while live or pinned)")


class ModelInfo(BaseModel):
    name: str
    default: bool = Field(description="Served by a server without RECSYS_MODEL_NAME")
    served: bool = Field(description="The model this server answers /v1 requests with")
    live: VersionInfo | None
    retained: list[VersionInfo] = Field(description="Other versions still in Redis, newest "
                                        "first: each can be made live again")


class Health(BaseModel):
    redis: bool
    ready: bool = Field(description="Redis answers and the served model is live")
    detail: str | None = None


class MinuteCounts(BaseModel):
    minute: datetime = Field(description="Start of the minute (UTC)")
    counts: dict[str, int] = Field(description="Event type -> events received that minute")


class Overview(BaseModel):
    models: list[ModelInfo]
    health: Health
    events_per_minute: list[MinuteCounts] = Field(description="The last 10 minutes, oldest "
                                                  "first, by time received")
    event_types: list[str]


async def _versions(store: StoreDep) -> tuple[dict[str, str], str | None, list[VersionInfo]]:
    """The live pointers, the default model and every version still in Redis."""
    keys = store.keys
    replies = await store.pipeline(lambda pipe: (queue_pointers(pipe, keys),
                                                 pipe.hgetall(keys.published())))
    pointers = parse_pointers(replies[:-1])
    namespaces = {value.decode() for value in replies[-1].values()} | set(pointers.live.values())
    ordered = sorted(namespaces)[: MAX_MODELS * 10]
    metas = await store.pipeline(lambda pipe: [
        (pipe.get(keys.version(ns).meta()), pipe.ttl(keys.version(ns).meta())) for ns in ordered])
    live = set(pointers.live.values())
    found = []
    for index, namespace in enumerate(ordered):
        raw, ttl = metas[2 * index], metas[2 * index + 1]
        if raw is None:
            continue
        manifest = Manifest.from_bytes(raw)
        found.append(VersionInfo(
            name=manifest.name, version=manifest.version, namespace=namespace,
            published_at=manifest.published_at, algorithm=manifest.algorithm,
            metrics=manifest.metrics, users=manifest.users, items=manifest.items,
            live=namespace in live, expires_in_seconds=int(ttl) if int(ttl) >= 0 else None))
    found.sort(key=lambda v: v.published_at, reverse=True)
    return pointers.live, pointers.default, found


@router.get("/overview", response_model=Overview, summary="Console overview",
            description="Per model: the live version (with its offline metrics, users and "
            "items) and the versions still retained; health; events received per minute by "
            "type, the last 10 minutes.", responses=ADMIN_ERRORS)
async def overview(request: Request, store: StoreDep, settings: SettingsDep) -> Overview:
    now = datetime.now(UTC)
    try:
        await store.ping()
    except StorageError:
        return Overview(models=[], health=Health(redis=False, ready=False,
                                                 detail="Redis does not answer"),
                        events_per_minute=[], event_types=sorted(DEFAULT_WEIGHTS))
    live, default, versions = await _versions(store)
    try:
        served = choose(live, settings.model_name, default)
        served_name, detail = name_version(served)[0], None
    except NoLiveModel as exc:
        served_name, detail = None, str(exc)
    names = sorted({v.name for v in versions} | set(live))[:MAX_MODELS]
    models = []
    for name in names:
        own = [v for v in versions if v.name == name]
        current = next((v for v in own if v.namespace == live.get(name)), None)
        models.append(ModelInfo(
            name=name, default=name == default, served=name == served_name, live=current,
            retained=[v for v in own if v is not current][:MAX_MODELS]))
    minutes = await monitoring.read_minutes(store, now, 10)
    types = set(DEFAULT_WEIGHTS)
    with contextlib.suppress(NoLiveModel):
        types = set((await request.app.state.live.current()).manifest.events.weights) or types
    return Overview(
        models=models,
        health=Health(redis=True, ready=served_name is not None, detail=detail),
        events_per_minute=[MinuteCounts(minute=datetime.fromtimestamp(m * 60, UTC), counts=c)
                           for m, c in minutes],
        event_types=sorted(types | {t for _, c in minutes for t in c}),
    )


class DayRow(BaseModel):
    day: str = Field(description="Local date (the configured time zone)")
    active_users: int = Field(description="Users who sent any event that day")
    new_users: int = Field(description="Users seen for the first time that day")
    returning_users: int = Field(description="Active users seen before")
    funnel_users: dict[str, int] = Field(description="Users who sent view, cart, purchase")
    events: dict[str, int] = Field(description="Events by type")
    by_hour: dict[str, list[int]] = Field(description="Event type -> 24 counts by local hour")
    by_slot: dict[str, dict[str, int]] = Field(
        description="Slot -> event type -> events while the slot was active")
    pushes: int = Field(description="Pushes recorded (POST /v1/users/{id}/push)")
    pushes_by_slot: dict[str, int]


class CohortRow(BaseModel):
    day: str = Field(description="Cohort: the users first seen on this local date")
    users: int
    day1: int | None = Field(description="Of them, active the next day (null: not yet)")
    day7: int | None = Field(description="Of them, active 7 days later (null: not yet)")


class Monitoring(BaseModel):
    timezone: str
    today: str
    slots: list[str]
    funnel: list[str] = Field(description="The funnel's event types, in order")
    days: list[DayRow] = Field(description="Oldest first")
    cohorts: list[CohortRow]
    retention_days: int = Field(description="How long the counters are kept")


@router.get("/monitoring", response_model=Monitoring, summary="Live monitoring",
            description="Per local date: active, new and returning users, the view -> cart -> "
            "purchase funnel (users), events by type, by local hour and by slot, pushes; D1 and "
            "D7 retention by cohort. Counted by POST /v1/events and the push route in Redis, "
            f"kept {monitoring.RETENTION_DAYS} days (the sink's Parquet files are the history).",
            responses=ADMIN_ERRORS)
async def monitoring_route(
    request: Request, store: StoreDep,
    days: Annotated[int, Query(ge=1, le=monitoring.MAX_DAYS,
                               description="How many days, up to today")] = 14,
) -> Monitoring:
    try:
        rules = (await request.app.state.live.current()).rules
    except NoLiveModel:
        rules = RulesConfig()
    today = datetime.now(UTC).astimezone(rules.zone).date()
    names = monitoring.last_days(today, days)
    stats = await monitoring.read_days(store, names)
    cohorts = await monitoring.read_cohorts(store, names, today)
    return Monitoring(
        timezone=rules.timezone, today=today.isoformat(),
        slots=[slot.name for slot in rules.slots], funnel=list(monitoring.FUNNEL),
        days=[DayRow(day=s.day, active_users=s.active_users, new_users=s.new_users,
                     returning_users=s.returning_users, funnel_users=s.funnel_users,
                     events=s.events, by_hour=s.by_hour, by_slot=s.by_slot, pushes=s.pushes,
                     pushes_by_slot=s.pushes_by_slot) for s in stats],
        cohorts=[CohortRow(day=c.day, users=c.users, day1=c.day1, day7=c.day7)
                 for c in cohorts],
        retention_days=monitoring.RETENTION_DAYS,
    )


class MakeLive(BaseModel):
    version: str = Field(min_length=1, max_length=200, description="A retained version")


class MadeLive(BaseModel):
    name: str
    version: str
    namespace: str
    previous: str | None = Field(description="The namespace it replaced (kept for rollback)")


ModelPath = Annotated[str, Path(min_length=1, max_length=200, description="A model name")]


@router.post("/models/{name}/live", response_model=MadeLive, summary="Make a version live",
             description="Points the model at one of its retained versions (a rollback, or "
             "forward again): atomic, as publish does; the version it replaces is kept for "
             f"{RETAIN_SECONDS // 86400} days. Servers notice within a second.",
             responses={**ADMIN_ERRORS, 404: _error("not_found", "model 'shop' has no retained "
                                                    "version '3'", "No such retained version"),
                        409: _error("conflict", "version '3' of 'shop' is already live",
                                    "The version is live already")})
async def make_version_live(name: ModelPath, body: MakeLive, store: StoreDep,
                            settings: SettingsDep) -> MadeLive:
    _, _, versions = await _versions(store)
    target = next((v for v in versions if v.name == name and v.version == body.version), None)
    if target is None:
        known = sorted({v.version for v in versions if v.name == name})
        raise NotFound(f"model {name!r} has no retained version {body.version!r}"
                       + (f"; retained: {', '.join(known)}" if known else ""))
    if target.live:
        raise Conflict(f"version {body.version!r} of {name!r} is already live")

    def flip() -> str | None:
        client = connect(settings.redis_url, socket_timeout=10, socket_connect_timeout=2)
        try:
            return make_live(client, store.keys, name, target.namespace, RETAIN_SECONDS)
        finally:
            client.close()

    try:
        previous = await asyncio.to_thread(flip)
    except ModelError as exc:  # expired between the check and the flip
        raise NotFound(f"version {body.version!r} of {name!r} is not in Redis anymore "
                       "(expired); publish it again") from exc
    except redis.exceptions.RedisError as exc:
        raise StorageError("Redis failed while making the version live; retry") from exc
    return MadeLive(name=name, version=body.version, namespace=target.namespace,
                    previous=previous)
