"""``GET /v1/users/{user_id}/push``: the push due to a user now, or 204."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from serving import push as pushes
from serving.deps import AtQuery, StoreDep, VersionDep
from serving.responses import OrjsonResponse
from serving.schemas import INVALID, UNAUTHORIZED, UNAVAILABLE

router = APIRouter(prefix="/v1/users", tags=["push"])

PUSH_EXAMPLE = {
    "user_id": "u1", "slot": "breakfast", "send_at": "2026-11-21T07:30:00+08:00",
    "items": [{"item_id": "p42", "score": 0.83, "reason": "slot:breakfast"},
              {"item_id": "p77", "score": 0.61, "reason": "new"}],
    "rec_id": "5f0c2a9e8b7d4c1fa3e6b9d2c8a17f40", "model": {"name": "products", "version": "7"},
}


@router.get(
    "/{user_id}/push",
    summary="The push due to a user",
    description="200 with the slot and up to `push_items` slot items when a push is due: a push "
    "slot is active at `at` (default now, configured time zone), it is not quiet hours, the user "
    "has affinity to the slot, fewer than `max_per_user_per_day` pushes went out today, and "
    "there are slot items not pushed to the user in the last 7 days. Otherwise 204. A returned "
    "push is recorded (counts toward the cap and the no-repeat rule): send it.",
    response_class=OrjsonResponse,
    responses={200: {"description": "A push is due",
                     "content": {"application/json": {"example": PUSH_EXAMPLE}}},
               204: {"description": "No push is due"},
               **UNAUTHORIZED, **INVALID, **UNAVAILABLE},
)
async def push(
    user_id: Annotated[str, Path(description="The mini-program's user id.", examples=["u1"])],
    version: VersionDep,
    store: StoreDep,
    at: AtQuery = None,
) -> Response:
    body = await pushes.push(version, store, user_id, at)
    if body is None:
        return Response(status_code=204)
    return OrjsonResponse(body)
