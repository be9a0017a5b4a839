"""Prometheus metrics: requests and latency per route template, fallbacks and misses.

Each app has its own registry (several apps can live in one process, e.g. in tests). With more
than one worker process, each worker exposes its own counters on ``/metrics``.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    """The app's collectors, with the label children cached (``labels()`` is not free)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "recsys_http_requests", "HTTP requests by method, route template and status.",
            ["method", "route", "status"], registry=self.registry,
        )
        self._latency = Histogram(
            "recsys_http_request_duration_seconds", "Request latency by route template.",
            ["route"], buckets=LATENCY_BUCKETS, registry=self.registry,
        )
        self._fallbacks = Counter(
            "recsys_fallbacks", "Recommendations answered with the popular list (unknown user).",
            ["kind"], registry=self.registry,
        )
        self._misses = Counter(
            "recsys_misses", "Lookups that found nothing published (user or item).",
            ["what"], registry=self.registry,
        )
        self._events = Counter(
            "recsys_events", "Events accepted by POST /v1/events (duplicates not counted), by "
            "type.", ["event"], registry=self.registry,
        )
        self._pushes = Counter(
            "recsys_pushes", "Pushes recorded by POST /v1/users/{id}/push, by slot (none: no "
            "slot active).", ["slot"], registry=self.registry,
        )
        self._children: dict[tuple[Any, ...], Any] = {}
        self._per_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        pair = self._per_request.get(key)
        if pair is None:
            pair = self._per_request[key] = (
                self._requests.labels(method, route, str(status)), self._latency.labels(route))
        pair[0].inc()
        pair[1].observe(seconds)

    def fallback(self, kind: str) -> None:
        self._child(self._fallbacks, kind).inc()

    def miss(self, what: str) -> None:
        self._child(self._misses, what).inc()

    def events(self, event: str, count: int = 1) -> None:
        self._child(self._events, event).inc(count)

    def push(self, slot: str | None) -> None:
        self._child(self._pushes, slot or "none").inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.request(scope["method"], route, status, time.perf_counter() - started)
