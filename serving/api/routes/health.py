"""Liveness, readiness and metrics: open routes, no API key."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.responses import PlainTextResponse, Response

from serving.deps import MetricsDep, StoreDep, VersionDep
from serving.metrics import CONTENT_TYPE
from serving.schemas import UNAVAILABLE, ModelRef

router = APIRouter(tags=["operations"])


class Alive(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    model: ModelRef
    published_at: datetime


@router.get("/healthz", summary="Liveness: the process answers", response_model=Alive)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: Redis answers and a model version is live",
            response_model=Ready, responses=UNAVAILABLE)
async def readyz(store: StoreDep, version: VersionDep) -> dict[str, object]:
    await store.ping()
    return {"status": "ready", "model": version.model,
            "published_at": version.manifest.published_at.isoformat()}


@router.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse,
            responses={200: {"description": f"The Prometheus text format (`{CONTENT_TYPE}`)",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE)
