"""Serving errors and the one place that turns every error into the spec's JSON shape.

Every error response is ``{"error": {"code": "...", "message": "..."}}`` (plus ``details`` where a
route lists several problems)::

    ServingError
    ├── Unauthorized      401 unauthorized        missing or wrong X-API-Key
    ├── NotFound          404 not_found / unknown_item
    └── InvalidRequest    422 invalid_request     a parameter is out of range or unparseable

    storage.StoreUnavailable  503 redis_unavailable   Redis cannot be reached (recovers by itself)
    storage.NoLiveModel       503 no_live_model       nothing published, or several models and no
                                                      RECSYS_MODEL_NAME

FastAPI's own validation errors become 422 ``invalid_request`` naming each field; Starlette's
HTTP errors (unknown route, wrong method) keep their status.
"""

from __future__ import annotations

from typing import Any

import redis.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.responses import OrjsonResponse
from storage.errors import NoLiveModel, StorageError


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
    elif isinstance(error, StarletteHTTPException):
        status, details = error.status_code, None
        code = _HTTP_CODES.get(status, "http_error")
        message = str(error.detail)
    elif isinstance(error, redis.exceptions.RedisError):
        status, code, details = 503, "redis_unavailable", None
        message = f"Redis failed: {error}"
    else:  # pragma: no cover - registered only for the types above
        raise error
    return OrjsonResponse(error_body(code, message, details), status_code=status, headers=headers)


def _describe(problem: dict[str, Any]) -> str:
    where = ".".join(str(part) for part in problem.get("loc", ())) or "request"
    return f"{where}: {problem.get('msg', 'invalid')}"


async def _handle(request: Request, error: Exception) -> OrjsonResponse:
    return error_response(error)


def install_error_handlers(app: FastAPI) -> None:
    """Route every error type through ``error_response``."""
    for kind in (ServingError, StorageError, RequestValidationError, StarletteHTTPException,
                 redis.exceptions.RedisError):
        app.add_exception_handler(kind, _handle)
