"""Liveness, readiness and metrics: open routes, no API key."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from serving.deps import MetricsDep, StoreDep, VersionDep
from serving.metrics import CONTENT_TYPE
from serving.schemas import UNAVAILABLE

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness: the process answers")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="Readiness: Redis answers and a model version is live",
            responses=UNAVAILABLE)
async def readyz(store: StoreDep, version: VersionDep) -> dict[str, object]:
    await store.ping()
    return {"status": "ready", "model": version.model,
            "published_at": version.manifest.published_at.isoformat()}


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(metrics: MetricsDep) -> Response:
    return Response(metrics.render(), media_type=CONTENT_TYPE)
