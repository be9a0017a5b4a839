"""``GET /v1/users/{user_id}/recommendations``: ranked items for one user."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from serving import service
from serving.deps import AtQuery, CategoryQuery, ContextDep, ExcludeQuery, KindQuery, NQuery
from serving.lean import LeanRoute
from serving.responses import OrjsonResponse
from serving.schemas import (
    NOT_FOUND,
    RECOMMENDATIONS_EXAMPLE,
    UNAUTHORIZED,
    UNAVAILABLE,
    Recommendations,
    example,
    invalid,
)

router = APIRouter(prefix="/v1/users", tags=["recommendations"], route_class=LeanRoute)


@router.get(
    "/{user_id}/recommendations",
    summary="Recommendations for a user",
    description="The user's top items of `kind`, slot-aware, purchased and unavailable items "
    "removed. A user the model does not know gets the popular list with `fallback: true`. While "
    "an A/B experiment splits `kind`, the user's variant (a stable hash of experiment and user) "
    "answers, and `experiment`, `variant` and `model` say which; `rec_id` is signed: send it "
    "back with the events it leads to.",
    response_class=OrjsonResponse,
    response_model=Recommendations,
    responses={**example(RECOMMENDATIONS_EXAMPLE), **UNAUTHORIZED, **NOT_FOUND,
               **invalid("for a `category` the live version does not have (the message lists "
                         "its categories)"), **UNAVAILABLE},
)
async def recommendations(
    user_id: Annotated[str, Path(description="The mini-program's user id.", examples=["u1"])],
    request: Request,
    context: ContextDep,
    kind: KindQuery = "product",
    n: NQuery = 10,
    at: AtQuery = None,
    category: CategoryQuery = None,
    exclude: ExcludeQuery = None,
) -> OrjsonResponse:
    body = await service.recommendations(
        context.version, context.store, context.metrics, user_id, kind, n, at, category, exclude,
        request.app.state.ab, context.trending,
    )
    return OrjsonResponse(body)
