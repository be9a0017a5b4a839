"""``POST /v1/events``: behaviour events in (see ``serving.events``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel

from serving import attribution, events, monitoring
from serving.deps import StoreDep
from serving.responses import OrjsonResponse
from serving.schemas import UNAUTHORIZED, _error, example
from storage.events import DEDUPE_PER_SHARD
from storage.keys import DEDUPE_SHARDS

router = APIRouter(prefix="/v1", tags=["events"])

_REMEMBERED = DEDUPE_SHARDS * DEDUPE_PER_SHARD
"""The most ``event_id``s remembered (``storage.events``)."""
_TEXT = {"type": "string", "minLength": 1, "maxLength": events.MAX_ID_LENGTH, "pattern": r"\S"}
"""A text field as ``serving.events`` takes it: not blank, at most ``MAX_ID_LENGTH`` characters."""
_OPTIONAL_TEXT = {"anyOf": [_TEXT, {"type": "null"}]}
_EVENT = {
    "type": "object",
    "required": ["user_id", "item_id", "event", "timestamp"],
    "properties": {
        "user_id": _TEXT,
        "item_id": _TEXT,
        "event": {**_TEXT, "description": "One of the live version's event types "
                  "(default view, click, favorite, cart, share, purchase); another is 422."},
        "timestamp": {"oneOf": [{"type": "string", "format": "date-time"},
                                {"type": "number", "minimum": 0}],
                      "description": "ISO-8601 with offset, or epoch seconds; from 1970 to a day "
                      "from now (else 422)."},
        "rec_id": {**_OPTIONAL_TEXT, "description": "The response that led to this event."},
        "event_id": {**_OPTIONAL_TEXT, "description": "Idempotency key: an id accepted in the "
                     f"last 7 days, among about the newest {_REMEMBERED:,}, is a duplicate."},
    },
}
_BATCH = {"type": "array", "items": _EVENT, "minItems": 1, "maxItems": events.MAX_EVENTS}
_EXAMPLE = {"events": [{"user_id": "u1", "item_id": "p42", "event": "purchase",
                        "timestamp": "2026-11-21T07:35:00+08:00", "event_id": "e-1001"}]}
_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"oneOf": [
                {"type": "object", "required": ["events"], "properties": {"events": _BATCH}},
                _BATCH,
            ]},
            "example": _EXAMPLE,
        }},
    }
}


class EventsAccepted(BaseModel):
    accepted: int
    duplicates: int


_RESPONSES: dict[int | str, dict[str, Any]] = {
    **example({"accepted": 1, "duplicates": 0}, 202),
    413: _error("too_many_events", "1500 events in one call; send at most 1000",
                "More than 1000 events (`too_many_events`), or a body over "
                "`RECSYS_MAX_BODY_BYTES` (`body_too_large`)"),
    422: _error("invalid_events", "2 of 3 events are invalid; none was stored",
                "Some events are invalid (`invalid_events`: details lists index, field and "
                "reason), also for a rule of the live version the schema cannot say (an event "
                "type it does not weigh, a time outside 1970 to tomorrow); or the body is not "
                "JSON of this shape (`invalid_request`)"),
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
    "`event_id` accepted in the last 7 days (and among about the newest "
    f"{_REMEMBERED:,} ids) are acknowledged as duplicates but not stored again: "
    "give every event one, since a 503 means the batch may have been stored and only events with "
    "an `event_id` are stored once when it is sent again. A "
    "`purchase` removes the item from the user's recommendations at once. A `click`, `cart` or "
    "`purchase` whose `rec_id` came from an A/B experiment counts for its variant (once per "
    "user, item and event type within the attribution window, default 24 h).",
    status_code=202,
    response_class=OrjsonResponse,
    response_model=EventsAccepted,
    openapi_extra=_BODY,
    responses=_RESPONSES,
)
async def post_events(request: Request, store: StoreDep) -> OrjsonResponse:
    batch = events.parse_body(await request.body())
    rules = await events.current_rules(request.app.state.live)
    now = datetime.now(UTC)
    good, problems = events.validate(batch, rules.weights, now)
    if problems:
        bad = len({problem["index"] for problem in problems})
        raise events.InvalidEvents(
            f"{bad} of {len(batch)} events are invalid; none was stored", details=problems
        )
    ab = request.app.state.ab
    targets = attribution.targets(good, await ab.signer(), store.keys, now, ab.window_seconds)
    counted = monitoring.events_hook(request.app.state.live, store, good,  # console counters
                                     request.app.state.metrics)
    accepted, duplicates = await events.append(store, good, targets, ab.window_seconds, rules,
                                               counted)
    return OrjsonResponse({"accepted": accepted, "duplicates": duplicates}, status_code=202)
