"""``GET /v1/popular``: the most popular items, slot-aware."""

from __future__ import annotations

from fastapi import APIRouter

from serving import service
from serving.deps import AtQuery, ContextDep, KindQuery, NQuery
from serving.lean import LeanRoute
from serving.responses import OrjsonResponse
from serving.schemas import (
    INVALID,
    POPULAR_EXAMPLE,
    UNAUTHORIZED,
    UNAVAILABLE,
    PopularItems,
    example,
)

router = APIRouter(prefix="/v1", tags=["popular"], route_class=LeanRoute)


@router.get(
    "/popular",
    summary="Popular items",
    description="The most popular available items of `kind`; while a slot is active at `at`, "
    "its items are boosted.",
    response_class=OrjsonResponse,
    response_model=PopularItems,
    responses={**example(POPULAR_EXAMPLE), **UNAUTHORIZED, **INVALID, **UNAVAILABLE},
)
async def popular(
    context: ContextDep,
    kind: KindQuery = "product",
    n: NQuery = 10,
    at: AtQuery = None,
) -> OrjsonResponse:
    return OrjsonResponse(await service.popular_items(context.version, context.store, kind, n,
                                                      at, context.trending))
