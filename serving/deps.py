"""The dependencies of the routes, as ``Annotated`` aliases, and the API-key check."""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader

from recommender.data.catalog import KINDS
from serving.errors import Unauthorized
from serving.metrics import Metrics
from serving.settings import ServingSettings
from serving.trending import Trending
from serving.version import VersionView
from storage.reader import Store

API_KEY_HEADER = "X-API-Key"
MAX_N = 100
MAX_EXCLUDE = 200
"""At most this many ids in ``exclude``: each one is a lookup per request."""
MAX_EXCLUDE_CHARS = 8192
"""At most this many characters in ``exclude`` (200 ids of 40 characters), checked first."""

_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="ApiKey",
    description="One of the keys in RECSYS_API_KEYS (comma-separated).",
)


def key_matches(given: str, keys: Sequence[bytes]) -> bool:
    """Constant-time check of ``given`` against every configured key (no early exit)."""
    candidate = given.encode("utf-8")
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(candidate, key)
    return matched


_HEADER_NAME = API_KEY_HEADER.lower().encode("latin-1")


def _api_key_of(request: Request) -> str | None:
    """The ``X-API-Key`` header, read from the raw ASGI headers (building Starlette's
    ``Headers`` for one lookup costs more than the lookup)."""
    for name, value in request.scope["headers"]:
        if name == _HEADER_NAME or name.lower() == _HEADER_NAME:
            return value.decode("latin-1")  # type: ignore[no-any-return]
    return None


def check_api_key(request: Request) -> None:
    """401 unless the request carries one of the configured keys."""
    api_key = _api_key_of(request)
    if not api_key:
        raise Unauthorized(f"missing {API_KEY_HEADER} header")
    if not key_matches(api_key, request.app.state.api_keys):
        raise Unauthorized(f"invalid API key in {API_KEY_HEADER}")


async def require_api_key(
    request: Request, api_key: Annotated[str | None, Security(_api_key)]
) -> None:
    """``check_api_key`` as a dependency (``api_key`` declares the scheme in the docs).

    Every dependency here is ``async def``: FastAPI runs plain ``def`` dependencies in a thread
    pool, a thread hop per request that these cheap lookups do not need.
    """
    check_api_key(request)


async def get_settings(request: Request) -> ServingSettings:
    return request.app.state.settings  # type: ignore[no-any-return]


async def get_store(request: Request) -> Store:
    return request.app.state.store  # type: ignore[no-any-return]


async def get_metrics(request: Request) -> Metrics:
    return request.app.state.metrics  # type: ignore[no-any-return]


async def get_version(request: Request) -> VersionView:
    """The live version (503 when Redis is down or nothing is published)."""
    return await request.app.state.live.current()  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Context:
    """What a ``/v1`` handler works with, in one dependency (each one costs per request)."""

    version: VersionView
    store: Store
    metrics: Metrics
    trending: Trending


async def get_context(request: Request) -> Context:
    """The live version with the app's parts; the same ``Context`` while the version stays
    (building one per request cost several µs)."""
    state = request.app.state
    view = await state.live.current()
    context: Context | None = state.context
    if context is None or context.version is not view:
        context = state.context = Context(view, state.store, state.metrics, state.trending)
    return context


SettingsDep = Annotated[ServingSettings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
VersionDep = Annotated[VersionView, Depends(get_version)]
ContextDep = Annotated[Context, Depends(get_context)]

Kind = Literal[KINDS]  # type: ignore[valid-type]
KindQuery = Annotated[Kind, Query(description="Which items: `product` or `content`.")]
NQuery = Annotated[int, Query(ge=1, le=MAX_N, description=f"How many items, 1..{MAX_N}.")]
def _at_schema(schema: dict[str, Any]) -> None:
    """``at`` in the OpenAPI document: an RFC 3339 date-time (a local one, without an offset,
    is taken too, as the description says)."""
    schema.pop("anyOf", None)
    schema.update(type="string", format="date-time")


AtQuery = Annotated[
    str | None,
    Query(
        description="ISO-8601 instant the slot is evaluated at (default now), e.g. "
        "`2026-11-21T07:30:00+08:00` or `2026-11-20T23:30:00Z`; without an offset it is local "
        "time in the configured time zone.",
        json_schema_extra=_at_schema,
        openapi_examples={
            "breakfast": {"summary": "07:30 in Shanghai", "value": "2026-11-21T07:30:00+08:00"},
            "utc": {"summary": "the same instant in UTC", "value": "2026-11-20T23:30:00Z"},
        },
    ),
]
CategoryQuery = Annotated[
    str | None,
    Query(description="Only items of this category, one of the live version's categories.",
          examples=["breakfast"]),
]
ExcludeQuery = Annotated[
    str | None,
    Query(description="Comma-separated item ids never to return (e.g. already in the cart): "
          f"at most {MAX_EXCLUDE} ids and {MAX_EXCLUDE_CHARS} characters.",
          max_length=MAX_EXCLUDE_CHARS, examples=["p12,p40"]),
]
