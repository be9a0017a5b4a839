"""``POST /v1/events``: behaviour events in (see ``serving.events``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from serving import attribution, events
from serving.deps import StoreDep
from serving.responses import OrjsonResponse
from serving.schemas import UNAUTHORIZED, _error

router = APIRouter(prefix="/v1", tags=["events"])

_EVENT = {
    "type": "object",
    "required": ["user_id", "item_id", "event", "timestamp"],
    "properties": {
        "user_id": {"type": "string"},
        "item_id": {"type": "string"},
        "event": {"type": "string", "description": "One of the configured event types "
                  "(default view, click, favorite, cart, share, purchase)."},
        "timestamp": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}],
                      "description": "ISO-8601 with offset, or epoch seconds."},
        "rec_id": {"type": "string", "description": "The response that led to this event."},
        "event_id": {"type": "string", "description": "Idempotency key (kept 7 days)."},
    },
}
_EXAMPLE = {"events": [{"user_id": "u1", "item_id": "p42", "event": "purchase",
                        "timestamp": "2026-11-21T07:35:00+08:00", "event_id": "e-1001"}]}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"oneOf": [
                {"type": "object", "required": ["events"],
                 "properties": {"events": {"type": "array", "items": _EVENT,
                                           "maxItems": events.MAX_EVENTS}}},
                {"type": "array", "items": _EVENT, "maxItems": events.MAX_EVENTS},
            ]},
            "example": _EXAMPLE,
        }},
    }
}
_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"description": "Stored", "content": {"application/json": {
        "example": {"accepted": 1, "duplicates": 0}}}},
    413: _error("too_many_events", "1500 events in one call; send at most 1000",
                "More than 1000 events"),
    422: _error("invalid_events", "2 of 3 events are invalid; none was stored",
                "Some events are invalid (details lists index, field and reason)"),
    **UNAUTHORIZED,
    503: _error("redis_unavailable", events.MAYBE_STORED,
                "Redis failed during the call: the batch may have been stored; send it again "
                "(events with an event_id are stored once)"),
}


@router.post(
    "/events",
    summary="Send behaviour events",
    description="Up to 1000 events a call, as `{\"events\": [...]}` or a bare array. All are "
    "validated first: if any is bad, none is stored and 422 lists each bad event. Events with an "
    "`event_id` seen in the last 7 days are acknowledged as duplicates but not stored again: "
    "give every event one, since a 503 means the batch may have been stored and only events with "
    "an `event_id` are stored once when it is sent again. A "
    "`purchase` removes the item from the user's recommendations at once. A `click`, `cart` or "
    "`purchase` whose `rec_id` came from an A/B experiment counts for its variant (once per "
    "user, item and event type within the attribution window, default 24 h).",
    status_code=202,
    response_class=OrjsonResponse,
    openapi_extra=_BODY,
    responses=_RESPONSES,
)
async def post_events(request: Request, store: StoreDep) -> OrjsonResponse:
    batch = events.parse_body(await request.body())
    vocabulary = await events.current_vocabulary(request.app.state.live)
    now = datetime.now(UTC)
    good, problems = events.validate(batch, vocabulary, now)
    if problems:
        bad = len({problem["index"] for problem in problems})
        raise events.InvalidEvents(
            f"{bad} of {len(batch)} events are invalid; none was stored", details=problems
        )
    ab = request.app.state.ab
    targets = attribution.targets(good, await ab.signer(), store.keys, now, ab.window_seconds)
    accepted, duplicates = await events.append(store, good, targets, ab.window_seconds)
    return OrjsonResponse({"accepted": accepted, "duplicates": duplicates}, status_code=202)
