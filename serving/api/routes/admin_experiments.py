"""``/v1/admin/experiments``: list, daily results with intervals, start and stop A/B
experiments between published versions (the report itself: ``routes/admin.py``).

Behind an admin key in ``X-API-Key`` or a console session (``serving.console.session``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, TypeVar

import redis.exceptions
from fastapi import APIRouter, Path
from pydantic import BaseModel, Field, field_validator

from recommender.abtest import Rate
from recommender.data.catalog import KINDS
from recommender.errors import ConfigError
from serving.api.routes.admin import UnknownExperiment
from serving.api.routes.admin_console import ADMIN_ERRORS, Conflict
from serving.attribution import read_counts
from serving.deps import SettingsDep, StoreDep
from serving.errors import NotFound
from serving.experiments import ABDep
from serving.schemas import _error
from storage.connect import SyncClient, connect
from storage.errors import StorageError
from storage.experiments import (
    RUNNING,
    ExperimentRecord,
    VariantRecord,
    find_published,
    open_experiment,
    parse_records,
    stop_experiment,
)
from storage.keys import published_field
from storage.writer import RETAIN_SECONDS

router = APIRouter(prefix="/v1/admin/experiments", tags=["admin"])

NamePath = Annotated[str, Path(min_length=1, max_length=100, description="Experiment name")]
T = TypeVar("T")
UNKNOWN = {404: _error("unknown_experiment", "no experiment 'x'; see recsys ab list",
                       "No such experiment")}


class VariantOut(BaseModel):
    name: str
    weight: float
    model: str
    version: str


class ExperimentOut(BaseModel):
    name: str
    status: str
    control: str
    kinds: list[str]
    started_at: str
    stopped_at: str | None
    variants: list[VariantOut]


class Interval(BaseModel):
    value: float | None
    low: float | None = Field(description="95% Wilson interval")
    high: float | None


class DailyPoint(BaseModel):
    day: str = Field(description="UTC date")
    impressions: int
    clicks: int
    purchases: int
    ctr: Interval
    conversion: Interval = Field(description="Purchases per impression")
    cumulative_ctr: Interval
    cumulative_conversion: Interval


class Daily(BaseModel):
    name: str
    variants: dict[str, list[DailyPoint]]


def _interval(successes: int, trials: int) -> Interval:
    rate = Rate.of(min(successes, trials), trials)
    return Interval(value=rate.value, low=rate.low, high=rate.high)


@router.get("", response_model=list[ExperimentOut], summary="Every experiment",
            description="Running first, newest first.", responses=ADMIN_ERRORS)
async def list_experiments(store: StoreDep) -> list[ExperimentOut]:
    (raw,) = await store.pipeline(lambda pipe: pipe.hvals(store.keys.experiments()))
    records = sorted(parse_records(raw), key=lambda r: (not r.running,
                                                         -r.started_at.timestamp()))
    return [ExperimentOut(**r.describe()) for r in records[:100]]


@router.get("/{name}/daily", response_model=Daily, summary="Per-day results of an experiment",
            description="Per variant and UTC day: impressions, clicks, purchases, CTR and "
            "conversion with 95% Wilson intervals, that day and cumulative to it.",
            responses={**ADMIN_ERRORS, **UNKNOWN})
async def daily(name: NamePath, ab: ABDep) -> Daily:
    experiment = await ab.experiment(name)
    if experiment is None:
        raise UnknownExperiment(f"no experiment {name!r}; see recsys ab list")
    await ab.flush()
    variants = [v.name for v in experiment.variants]
    _, per_day, _ = await read_counts(ab.store, name, variants,
                                      experiment.days(datetime.now(UTC), ab.window_seconds))
    out: dict[str, list[DailyPoint]] = {}
    for variant in variants:
        total = {"impressions": 0, "click": 0, "purchase": 0}
        points = []
        for day in sorted(per_day):
            counts = per_day[day].get(variant, {})
            shown, clicks, bought = (counts.get("impressions", 0), counts.get("click", 0),
                                     counts.get("purchase", 0))
            shown = max(shown, clicks, bought)
            total = {"impressions": total["impressions"] + shown,
                     "click": total["click"] + clicks, "purchase": total["purchase"] + bought}
            points.append(DailyPoint(
                day=day, impressions=shown, clicks=clicks, purchases=bought,
                ctr=_interval(clicks, shown), conversion=_interval(bought, shown),
                cumulative_ctr=_interval(total["click"], total["impressions"]),
                cumulative_conversion=_interval(total["purchase"], total["impressions"])))
        out[variant] = points
    return Daily(name=name, variants=out)


class VariantIn(BaseModel):
    name: str = Field(min_length=1, max_length=50, pattern=r"^[A-Za-z0-9_.-]+$")
    model: str = Field(min_length=1, max_length=200)
    version: str = Field(min_length=1, max_length=200)
    weight: float = Field(default=50.0, gt=0, le=1000)


class StartExperiment(BaseModel):
    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    kinds: list[Literal[KINDS]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Kinds it splits; empty = every kind")
    variants: list[VariantIn] = Field(min_length=2, max_length=5,
                                      description="The first is the control")

    @field_validator("variants")
    @classmethod
    def _distinct(cls, value: list[VariantIn]) -> list[VariantIn]:
        if len({v.name for v in value}) != len(value):
            raise ValueError("variant names must differ")
        return value


async def _in_thread(settings: Any, call: Callable[[SyncClient], T]) -> T:
    def run() -> T:
        client = connect(settings.redis_url, socket_timeout=10, socket_connect_timeout=2)
        try:
            return call(client)
        finally:
            client.close()

    try:
        return await asyncio.to_thread(run)
    except ConfigError as exc:
        raise Conflict(str(exc)) from exc
    except redis.exceptions.RedisError as exc:
        raise StorageError("Redis failed during the change; retry") from exc


CONFLICT = {409: _error("conflict", "experiment 'x' already exists (running, ...)",
                        "The name is taken, a running experiment splits the kind, or the "
                        "experiment is already stopped")}


@router.post("", response_model=ExperimentOut, status_code=201, summary="Start an experiment",
             description="Splits users between published versions (the first variant is the "
             "control) by a stable hash of experiment and user, with the weights given; "
             "servers pick it up within a second.",
             responses={**ADMIN_ERRORS, **CONFLICT,
                        404: _error("not_found", "variants: shop version 9 is not published "
                                    "(or expired); publish it first",
                                    "A variant's version is not in Redis")})
async def start(body: StartExperiment, store: StoreDep, settings: SettingsDep) -> ExperimentOut:
    keys = store.keys

    def begin(client: SyncClient) -> ExperimentRecord:
        variants = []
        for v in body.variants:
            namespace = find_published(client, keys, v.model, v.version)
            if namespace is None:
                raise NotFound(f"variants: {v.model} version {v.version} is not published "
                               "(or expired); publish it first")
            variants.append(VariantRecord(v.name, v.weight, published_field(v.model, v.version),
                                          v.model, v.version, namespace))
        record = ExperimentRecord(name=body.name, status=RUNNING, control=variants[0].name,
                                  kinds=tuple(body.kinds), variants=tuple(variants),
                                  started_at=datetime.now(UTC))
        open_experiment(client, keys, record)
        return record

    record = await _in_thread(settings, begin)
    return ExperimentOut(**record.describe())


@router.post("/{name}/stop", response_model=ExperimentOut, summary="Stop an experiment",
             description="Its users get the live version again; its counts stay for the report.",
             responses={**ADMIN_ERRORS, **CONFLICT, **UNKNOWN})
async def stop(name: NamePath, store: StoreDep, settings: SettingsDep, ab: ABDep
               ) -> ExperimentOut:
    if await ab.experiment(name) is None:
        raise UnknownExperiment(f"no experiment {name!r}; see recsys ab list")

    def end(client: SyncClient) -> ExperimentRecord:
        return stop_experiment(client, store.keys, name, retain_seconds=RETAIN_SECONDS)

    return ExperimentOut(**(await _in_thread(settings, end)).describe())
