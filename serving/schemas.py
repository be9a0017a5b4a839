"""Response shapes and error responses, for the OpenAPI document and ``/docs`` only.

Routes return plain dicts rendered by orjson; these models describe them (with examples) as the
routes' ``response_model``, without validating every response again (a route that returns a
``Response`` is not re-validated by FastAPI). Every status a route can answer is declared, in the
``Error`` shape: the route's own (``UNAUTHORIZED``, ``INVALID``, ...) and the limits every route
shares (``LIMITS``); ``tests/serving/test_openapi_conformance.py`` holds the document to it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Item(BaseModel):
    item_id: str
    score: float
    reason: str = Field(description="personalized, slot:<name>, popular, similar, new or "
                        "session (similar to what the user did since the last publish)")
    because: str | None = Field(
        default=None, description="For reason `session`: the item the user interacted with "
        "that brought this one. Absent otherwise.")
    title: str | None = Field(
        default=None, description="The item's title in the published catalog; absent when the "
        "catalog has none.")


class ModelRef(BaseModel):
    name: str
    version: str


class Recommendations(BaseModel):
    user_id: str
    kind: str
    slot: str | None
    items: list[Item]
    model: ModelRef
    experiment: str | None
    variant: str | None
    rec_id: str
    fallback: bool = Field(description="true when the user is unknown and got the popular list")


class SimilarItems(BaseModel):
    item_id: str
    kind: str
    items: list[Item]
    model: ModelRef
    experiment: str | None
    variant: str | None
    rec_id: str


class PopularItems(BaseModel):
    kind: str
    slot: str | None
    items: list[Item]
    model: ModelRef
    experiment: str | None
    variant: str | None
    rec_id: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = Field(
        default=None, description="Where a route lists several problems (`invalid_events`): "
        "one object per problem.")


class Error(BaseModel):
    error: ErrorBody


_MODEL = {"name": "products", "version": "7"}
_REC_ID = "5f0c2a9e8b7d4c1fa3e6b9d2c8a17f40"

RECOMMENDATIONS_EXAMPLE = {
    "user_id": "u1", "kind": "product", "slot": "breakfast",
    "items": [
        {"item_id": "p42", "score": 1.66, "reason": "slot:breakfast"},
        {"item_id": "p77", "score": 1.66, "reason": "new"},
        {"item_id": "p13", "score": 0.71, "reason": "personalized"},
    ],
    "model": _MODEL, "experiment": None, "variant": None, "rec_id": _REC_ID, "fallback": False,
}
SIMILAR_EXAMPLE = {
    "item_id": "p42", "kind": "product",
    "items": [{"item_id": "p43", "score": 0.92, "reason": "similar"}],
    "model": _MODEL, "experiment": None, "variant": None, "rec_id": _REC_ID,
}
POPULAR_EXAMPLE = {
    "kind": "product", "slot": None,
    "items": [{"item_id": "p1", "score": 1.0, "reason": "popular"}],
    "model": _MODEL, "experiment": None, "variant": None, "rec_id": _REC_ID,
}


def _error(code: str, message: str, description: str,
           headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """One error response of the OpenAPI document: the ``Error`` shape, an example, a
    description and the headers it carries."""
    response: dict[str, Any] = {
        "model": Error,
        "description": description,
        "content": {"application/json": {"example": {"error": {"code": code,
                                                                "message": message}}}},
    }
    if headers:
        response["headers"] = headers
    return response


Responses = dict[int | str, dict[str, Any]]

UNAUTHORIZED: Responses = {
    401: _error("unauthorized", "missing X-API-Key header", "No or a wrong API key",
                {"WWW-Authenticate": {"description": "`APIKey`", "schema": {"type": "string"}}})}
FORBIDDEN: Responses = {
    403: _error("forbidden", "this API key may not use /v1/admin; use one of RECSYS_ADMIN_KEYS",
                "An API key that is not an admin key")}
NOT_FOUND: Responses = {
    404: _error("not_found", "Not Found", "No such route: a path parameter holding a `/` "
                "makes another path")}
INVALID: Responses = {
    422: _error("invalid_request", "query.n: Input should be less than or equal to 100",
                "A parameter is invalid (the message names it)")}


def invalid(also: str) -> Responses:
    """``INVALID``, for a route where a schema-valid request may still break a rule of the live
    version (``also`` says which): the document can only describe that rule."""
    return {422: {**INVALID[422], "description": f"{INVALID[422]['description']}; also {also}"}}


UNAVAILABLE: Responses = {
    503: _error("redis_unavailable", "Redis is unreachable; retry shortly, the service "
                "reconnects by itself", "Redis is down (`redis_unavailable`) or no model is "
                "published (`no_live_model`)")}
UNKNOWN_ITEM: Responses = {
    404: _error("unknown_item", "item 'p999' is not in the published catalog",
                "The item is unknown (or no such route: `not_found`)")}
LIMITS: Responses = {
    408: _error("request_timeout", "the request body did not arrive within 10 s; send it again",
                "The request (head or body) did not arrive in time (`RECSYS_REQUEST_TIMEOUT_"
                "SECONDS`)"),
    413: _error("body_too_large", "the request body is over 1048576 bytes; send at most 1048576 "
                "bytes a request", "The body is larger than `RECSYS_MAX_BODY_BYTES`"),
    429: _error("rate_limited", "this API key sent more than 2000 requests a second (bursts of "
                "4000) to one server worker; retry after the seconds in Retry-After",
                "The API key is over its rate (`RECSYS_RATE_LIMIT_PER_SECOND`)",
                {"Retry-After": {"description": "Seconds to wait before the next request",
                                 "schema": {"type": "integer", "minimum": 1}}}),
    431: _error("headers_too_large", "the request line and headers are over 65536 bytes",
                "The request line and headers are larger than `RECSYS_MAX_HEAD_BYTES`"),
}
"""What ``serving.limits`` may answer on any route, before the route runs (every operation
declares them: ``create_app`` passes them to FastAPI)."""


def example(value: dict[str, Any], status: int = 200) -> Responses:
    """The example body of a route's success response (its shape is the ``response_model``)."""
    return {status: {"content": {"application/json": {"example": value}}}}
