"""Response shapes, for the OpenAPI document and ``/docs`` only.

Routes return plain dicts rendered by orjson; these models describe them (with examples) without
validating every response again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Item(BaseModel):
    item_id: str
    score: float
    reason: str = Field(description="personalized, slot:<name>, popular, similar or new")


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


def _error(code: str, message: str, description: str) -> dict[str, Any]:
    return {
        "model": Error,
        "description": description,
        "content": {"application/json": {"example": {"error": {"code": code,
                                                                "message": message}}}},
    }


UNAUTHORIZED = {401: _error("unauthorized", "missing X-API-Key header", "No or a wrong API key")}
INVALID = {422: _error("invalid_request", "query.n: Input should be less than or equal to 100",
                       "A parameter is invalid")}
UNAVAILABLE = {503: _error("redis_unavailable", "Redis is unreachable; retry shortly, the "
                                                "service reconnects by itself",
                           "Redis is down or no model is published")}
UNKNOWN_ITEM = {404: _error("unknown_item", "item 'p999' is not in the published catalog",
                            "The item is unknown")}


def ok(model: type[BaseModel], example: dict[str, Any]) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model, "content": {"application/json": {"example": example}}}}
