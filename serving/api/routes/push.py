"""``/v1/users/{user_id}/push``: GET the push due to a user now (or 204 and why); POST one sent."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from recommender.push import REASONS
from serving import monitoring
from serving import push as pushes
from serving.deps import MAX_N, AtQuery, StoreDep, VersionDep
from serving.responses import OrjsonResponse
from serving.schemas import (
    INVALID,
    NOT_FOUND,
    UNAUTHORIZED,
    UNAVAILABLE,
    Item,
    ModelRef,
    _error,
    example,
    invalid,
)

router = APIRouter(prefix="/v1/users", tags=["push"])

REASON_HEADER = "X-Recsys-Reason"
"""Says why a 204 has no push: one of ``recommender.push.REASONS``."""

UserPath = Annotated[str, Path(description="The mini-program's user id.", examples=["u1"])]


class Push(BaseModel):
    user_id: str
    slot: str
    send_at: datetime = Field(description="`at` in the configured time zone")
    items: list[Item]
    rec_id: str
    model: ModelRef


class PushSent(BaseModel):
    items: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, max_length=MAX_N, description="The item ids that were pushed.")


class PushRecorded(BaseModel):
    user_id: str
    items: list[str]
    sent_at: datetime = Field(description="`at` in the configured time zone")
    day: date = Field(description="The local date whose cap the push counts toward")


PUSH_EXAMPLE = {
    "user_id": "u1", "slot": "breakfast", "send_at": "2026-11-21T07:30:00+08:00",
    "items": [{"item_id": "p42", "score": 0.83, "reason": "slot:breakfast"},
              {"item_id": "p77", "score": 0.61, "reason": "new"}],
    "rec_id": "5f0c2a9e8b7d4c1fa3e6b9d2c8a17f40", "model": {"name": "products", "version": "7"},
}
RECORDED_EXAMPLE = {"user_id": "u1", "items": ["p42", "p77"],
                    "sent_at": "2026-11-21T07:30:00+08:00", "day": "2026-11-21"}
_REASONS = "; ".join(f"`{code}`: {meaning}" for code, meaning in REASONS.items())


@router.get(
    "/{user_id}/push",
    summary="The push due to a user",
    description="200 with the slot and up to `push_items` slot items when a push is due: a push "
    "slot is active at `at` (default now, configured time zone), it is not quiet hours, the user "
    "has affinity to the slot, fewer than `max_per_user_per_day` pushes went out today, and "
    "there are slot items not pushed to the user in the last 7 days. Otherwise 204, with the "
    f"reason in the `{REASON_HEADER}` header. Asking records nothing: once the push is sent, "
    "record it with `POST` on this route.",
    response_class=OrjsonResponse,
    response_model=Push,
    responses={**example(PUSH_EXAMPLE),
               204: {"description": "No push is due",
                     "headers": {REASON_HEADER: {
                         "description": f"Why no push is due. {_REASONS}.",
                         "schema": {"type": "string", "enum": list(REASONS)}}}},
               **UNAUTHORIZED, **NOT_FOUND, **INVALID, **UNAVAILABLE},
)
async def push(user_id: UserPath, version: VersionDep, store: StoreDep, at: AtQuery = None
               ) -> Response:
    body, reason = await pushes.push(version, store, user_id, at)
    if body is None:
        return Response(status_code=204, headers={REASON_HEADER: reason})
    return OrjsonResponse(body)


@router.post(
    "/{user_id}/push",
    summary="Record a push to a user",
    description="Records that `items` were pushed to the user at `at` (default now): the push "
    "counts toward the day's `max_per_user_per_day` and its items are not pushed again within "
    "`no_repeat_days`. Both rules are re-checked atomically: when one refuses, nothing is "
    "recorded and the answer is 409 (`push_capped` or `push_repeated`). To never exceed the cap "
    "when several senders race, record before sending and send only on 200.",
    response_class=OrjsonResponse,
    response_model=PushRecorded,
    responses={**example(RECORDED_EXAMPLE),
               409: _error("push_capped", "user 'u1' already got 2 push(es) on 2026-11-21 "
                           "(push.max_per_user_per_day); nothing was recorded: if it is not sent "
                           "yet, do not send it",
                           "The daily cap or the no-repeat rule refuses the push (`push_capped`, "
                           "`push_repeated`); nothing was recorded"),
               **UNAUTHORIZED, **NOT_FOUND,
               **invalid("for `items` not in the live version's catalog"), **UNAVAILABLE},
)
async def push_sent(user_id: UserPath, sent: PushSent, version: VersionDep, store: StoreDep,
                    request: Request, at: AtQuery = None) -> OrjsonResponse:
    body = await pushes.record(version, store, user_id, at, sent.items)
    await monitoring.count_push(store, version.clock, str(body["day"]),  # console counters
                                datetime.fromisoformat(str(body["sent_at"])),
                                request.app.state.metrics)
    return OrjsonResponse(body)
