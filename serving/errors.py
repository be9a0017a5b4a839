"""Serving errors and the one place that turns every error into the spec's JSON shape.

Every error response is ``{"error": {"code": "...", "message": "..."}}`` (plus ``details`` where a
route lists several problems)::

    ServingError
    ├── Unauthorized      401 unauthorized        missing or wrong X-API-Key
    ├── Forbidden         403 forbidden           an API key on an admin route (routes/admin.py)
    ├── NotFound          404 not_found / unknown_item / unknown_experiment
    ├── PushCapped        409 push_capped         the daily push cap is reached (serving/push.py)
    ├── PushRepeated      409 push_repeated       an item was pushed within the no-repeat window
    ├── TooManyEvents     413 too_many_events     more events than a call takes (serving/events.py)
    └── InvalidRequest    422 invalid_request     a parameter is out of range or unparseable
        └── InvalidEvents 422 invalid_events      some events of a batch are invalid

    storage.StoreUnavailable  503 redis_unavailable   Redis cannot be reached (recovers by itself)
    storage.NoLiveModel       503 no_live_model       nothing published, or the model asked for
                                                      (RECSYS_MODEL_NAME, else the default
                                                      model) is not live
    redis.RedisError          503 redis_unavailable   any other Redis failure
    any other exception       500 internal_error      a bug: the traceback is logged

FastAPI's own validation errors become 422 ``invalid_request`` naming each field; Starlette's
HTTP errors (unknown route, wrong method) keep their status and headers (a 405's ``Allow`` names
every method of the path), except FastAPI's 400 for a body that is not UTF-8: 422 as bad JSON.
``serving.limits`` answers before routing, in the same shape: 408 ``request_timeout``, 413
``body_too_large``, 429 ``rate_limited`` (with ``Retry-After``), 431 ``headers_too_large``.

Public bodies hold nothing internal: no Redis address, script hash or Redis error text, no
traceback. What was left out goes to the ``serving.errors`` logger instead.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from serving.responses import OrjsonResponse
from storage.errors import NoLiveModel, StorageError, StoreUnavailable


class ServingError(Exception):
    """Base of the errors a route raises on purpose; ``status`` and ``code`` go to the client."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class Unauthorized(ServingError):
    status, code = 401, "unauthorized"


class NotFound(ServingError):
    status, code = 404, "not_found"


class UnknownItem(NotFound):
    code = "unknown_item"


class InvalidRequest(ServingError):
    status, code = 422, "invalid_request"


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}
_UNPARSEABLE_BODY = "There was an error parsing the body"
"""FastAPI's 400 for a body it cannot decode (not UTF-8): answered as the 422 of bad JSON."""
REDIS_FAILED = "Redis failed to answer; retry shortly, the service reconnects by itself"
INTERNAL_ERROR = "internal error; it was logged"
_EXPECTED = (ServingError, StorageError, RequestValidationError, StarletteHTTPException)

log = logging.getLogger(__name__)


def error_body(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict:
    body: dict[str, Any] = {"code": code, "message": message}
    if details is not None:
        body["details"] = details
    return {"error": body}


def error_response(error: Exception) -> OrjsonResponse:
    """The response of any error: domain errors by their class, the others by kind."""
    headers = None
    if isinstance(error, ServingError):
        status, code, message, details = error.status, error.code, error.message, error.details
        if isinstance(error, Unauthorized):
            headers = {"WWW-Authenticate": "APIKey"}
    elif isinstance(error, StorageError):
        status, details, message = 503, None, str(error)
        code = "no_live_model" if isinstance(error, NoLiveModel) else "redis_unavailable"
    elif isinstance(error, RequestValidationError):
        status, code, details = 422, InvalidRequest.code, None
        message = "; ".join(_describe(problem) for problem in error.errors())
    elif isinstance(error, StarletteHTTPException) and error.detail == _UNPARSEABLE_BODY:
        status, code, details = 422, InvalidRequest.code, None
        message = "body: not JSON in UTF-8; send the JSON body this route describes"
    elif isinstance(error, StarletteHTTPException):
        status, details = error.status_code, None
        code = _HTTP_CODES.get(status, "http_error")
        message = str(error.detail)
        headers = dict(error.headers) if error.headers else None  # a 405's Allow
        if status == 405 and headers and "Allow" in headers:
            message = f"method not allowed; this route takes {headers['Allow']}"
    elif isinstance(error, redis.exceptions.RedisError):
        status, code, details, message = 503, "redis_unavailable", None, REDIS_FAILED
    else:
        status, code, details, message = 500, "internal_error", None, INTERNAL_ERROR
    return OrjsonResponse(error_body(code, message, details), status_code=status, headers=headers)


def _detail(error: BaseException) -> str:
    """The Redis failure behind ``error``, e.g. ``ConnectionError: Error 111 connecting to
    10.0.0.5:6379. Connection refused.`` (past the ``StorageError``s that wrapped it)."""
    while isinstance(error, StorageError) and error.__cause__ is not None:
        error = error.__cause__
    return f"{type(error).__name__}: {error}"


def log_error(request: Request, error: Exception) -> None:
    """Log what a public body leaves out: the Redis failure behind a 503, the traceback of a
    500."""
    where = f"{request.method} {request.url.path}"
    if isinstance(error, StoreUnavailable | redis.exceptions.RedisError):
        log.warning("%s: 503 redis_unavailable: %s", where, _detail(error))
    elif not isinstance(error, _EXPECTED):
        log.error("%s: 500 internal_error", where, exc_info=error)


def _describe(problem: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in problem.get("loc", ())) or "request"
    return f"{where}: {problem.get('msg', 'invalid')}"


def _allowed(request: Request) -> str:
    """Every method the routes of the request's path take (Starlette's 405 names only those
    of the first route that matched the path)."""
    methods: set[str] = set()
    for route in _every_route(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return ", ".join(sorted(methods))


def _every_route(routes: Sequence[Any]) -> Iterable[Any]:
    """The routes of the app, those of included routers too (FastAPI 0.16x keeps each included
    router as one route of the app; earlier versions copied its routes into the app's)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        return routes
    return iter_route_contexts(routes)


async def _handle(request: Request, error: Exception) -> OrjsonResponse:
    log_error(request, error)
    if isinstance(error, StarletteHTTPException) and error.status_code == 405:
        error = StarletteHTTPException(405, error.detail, {"Allow": _allowed(request)})
    return error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error type through ``error_response``.

    ``Exception`` is Starlette's outermost handler: it answers the JSON 500 and then re-raises,
    so the server logs the exception as well.
    """
    for kind in (ServingError, StorageError, RequestValidationError, StarletteHTTPException,
                 redis.exceptions.RedisError, Exception):
        app.add_exception_handler(kind, _handle)
