"""``GET /v1/items/{item_id}/similar``: items like this one, of the same kind."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from serving import service
from serving.deps import ContextDep, NQuery
from serving.lean import LeanRoute
from serving.responses import OrjsonResponse
from serving.schemas import (
    INVALID,
    SIMILAR_EXAMPLE,
    UNAUTHORIZED,
    UNAVAILABLE,
    UNKNOWN_ITEM,
    SimilarItems,
    example,
)

router = APIRouter(prefix="/v1/items", tags=["items"], route_class=LeanRoute)


@router.get(
    "/{item_id}/similar",
    summary="Similar items",
    description="The items most similar to `item_id` (same kind, available). 404 for an item "
    "that is not in the published catalog.",
    response_class=OrjsonResponse,
    response_model=SimilarItems,
    responses={**example(SIMILAR_EXAMPLE), **UNAUTHORIZED, **UNKNOWN_ITEM, **INVALID,
               **UNAVAILABLE},
)
async def similar(
    item_id: Annotated[str, Path(description="An item id of the catalog.", examples=["p42"])],
    context: ContextDep,
    n: NQuery = 10,
    user_id: Annotated[str | None, Query(
        min_length=1, max_length=256,
        description="The user the list is for: what they bought (outside repeatable "
        "categories) or looked at since the last publish is left out.")] = None,
) -> OrjsonResponse:
    body = await service.similar_items(context.version, context.store, context.metrics,
                                       item_id, n, user_id)
    return OrjsonResponse(body)
