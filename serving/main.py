"""The FastAPI app: ``create_app(settings)`` builds it, ``run(host, port, workers)`` serves it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import Depends, FastAPI
from starlette.types import ASGIApp

from serving import console
from serving.api.routes import (
    admin,
    admin_catalog,
    admin_console,
    admin_experiments,
    events,
    health,
    items,
    popular,
    push,
    recommendations,
)
from serving.deps import require_api_key
from serving.errors import install_error_handlers
from serving.experiments import FLUSH_SECONDS, ABTesting
from serving.lean import LeanDispatch
from serving.limits import LimitsMiddleware, uvicorn_options
from serving.live import LiveVersions
from serving.metrics import Metrics, MetricsMiddleware
from serving.responses import OrjsonResponse
from serving.schemas import LIMITS
from serving.settings import ServingSettings, check_can_serve, load_settings
from serving.trending import Trending
from storage.reader import Store

DESCRIPTION = """Recommendations, similar items and popular lists for mini-program shops,
answered from the model version published to Redis (`recsys publish NAME@ALIAS`).

Every `/v1` route needs an `X-API-Key` header with one of the keys in `RECSYS_API_KEYS`;
`/v1/admin` routes need one of `RECSYS_ADMIN_KEYS` (or a session of the operator console,
`/console`). `/docs` is this page, served without internet.
Errors are `{"error": {"code": "...", "message": "..."}}`."""

_NO_TELEMETRY = {"tracing": False, "metrics": False, "logs": False}
"""FastAPI's OpenTelemetry hooks look up the providers on every request (about 15 µs here):
off unless ``RECSYS_OTEL`` asks for them; ``/metrics`` is the service's own."""

V1_ROUTERS = (recommendations.router, items.router, popular.router, push.router, events.router)
ADMIN_ROUTERS = (admin.router, admin_console.router, admin_catalog.router,
                 admin_experiments.router)


class ServingApp(FastAPI):
    """FastAPI with serving's own outer layers: metrics, then limits (so their 413/429 are
    counted), then the lean routes answered before Starlette's stack (``serving.lean``)."""

    def build_middleware_stack(self) -> ASGIApp:
        routes = [route for router in V1_ROUTERS for route in router.routes]
        inner = LeanDispatch(super().build_middleware_stack(), routes)
        return MetricsMiddleware(LimitsMiddleware(inner, self.state.settings), self.state.metrics)


def create_app(settings: ServingSettings | None = None) -> FastAPI:
    """The app, reading Redis as ``settings`` say (default: the ``RECSYS_*`` environment)."""
    settings = settings or load_settings()
    check_can_serve(settings)
    store = Store.connect(settings.redis_url, settings.prefix,
                          timeout_seconds=settings.redis_timeout_seconds,
                          max_connections=settings.redis_max_connections)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        flusher = asyncio.create_task(app.state.ab.flush_every(FLUSH_SECONDS))
        refresher = asyncio.create_task(app.state.trending.refresh_every())
        gc.freeze()  # the app lives as long as the process: keep it out of GC passes
        yield
        flusher.cancel()
        refresher.cancel()
        await app.state.ab.close()
        await store.close()

    app = ServingApp(
        title="recsys",
        description=DESCRIPTION,
        version="1",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
        telemetry=None if settings.otel else _NO_TELEMETRY,
        responses=LIMITS,  # serving.limits may answer these on any route
        docs_url=None,  # served by the console from local assets (no CDN)
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.metrics = metrics
    app.state.live = LiveVersions(store, settings.model_name, settings.live_refresh_seconds)
    app.state.api_keys = [key.encode("utf-8") for key in settings.api_keys]
    app.state.admin_keys = [key.encode("utf-8") for key in settings.admin_keys]
    app.state.ab = ABTesting(store, app.state.live, settings)
    app.state.trending = Trending(store, app.state.live)
    app.state.context = None  # serving.deps.get_context's, for the live version
    install_error_handlers(app)
    for router in V1_ROUTERS:  # first: routes are matched in order, the hot ones come first
        app.include_router(router, dependencies=[Depends(require_api_key)])
    app.include_router(health.router)
    for router in ADMIN_ROUTERS:  # an admin key, or a console session with its CSRF token
        app.include_router(router, dependencies=[Depends(console.require_admin)])
    console.install(app)
    return app


def app_factory() -> FastAPI:
    """For ``uvicorn --factory serving.main:app_factory`` (settings from the environment; add
    ``--http serving.limits:LimitedHttpToolsProtocol`` for the head limits ``run`` sets)."""
    return create_app()


def run(host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
        settings: ServingSettings | None = None) -> None:
    """Serve with uvicorn (uvloop, httptools with ``serving.limits``' head size and slow-client
    deadlines, no access log). Several workers read their settings from the environment; one
    worker can take ``settings``."""
    settings = settings or load_settings()
    options = {"host": host, "port": port, "loop": "uvloop", "access_log": False,
               "log_level": "info", **uvicorn_options(settings)}
    if workers > 1:
        uvicorn.run("serving.main:app_factory", factory=True, workers=workers, **options)
    else:
        uvicorn.run(create_app(settings), **options)
