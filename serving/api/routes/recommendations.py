"""``GET /v1/users/{user_id}/recommendations``: ranked items for one user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from serving import service
from serving.deps import AtQuery, CategoryQuery, ContextDep, ExcludeQuery, KindQuery, NQuery
from serving.responses import OrjsonResponse
from serving.schemas import (
    INVALID,
    RECOMMENDATIONS_EXAMPLE,
    UNAUTHORIZED,
    UNAVAILABLE,
    Recommendations,
    ok,
)

router = APIRouter(prefix="/v1/users", tags=["recommendations"])


@router.get(
    "/{user_id}/recommendations",
    summary="Recommendations for a user",
    description="The user's top items of `kind`, slot-aware, purchased and unavailable items "
    "removed. A user the model does not know gets the popular list with `fallback: true`.",
    response_class=OrjsonResponse,
    responses={**ok(Recommendations, RECOMMENDATIONS_EXAMPLE), **UNAUTHORIZED, **INVALID,
               **UNAVAILABLE},
)
async def recommendations(
    user_id: Annotated[str, Path(description="The mini-program's user id.", examples=["u1"])],
    context: ContextDep,
    kind: KindQuery = "product",
    n: NQuery = 10,
    at: AtQuery = None,
    category: CategoryQuery = None,
    exclude: ExcludeQuery = None,
) -> OrjsonResponse:
    body = await service.recommendations(
        context.version, context.store, context.metrics, user_id, kind, n, at, category, exclude
    )
    return OrjsonResponse(body)
