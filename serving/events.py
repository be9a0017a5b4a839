"""``POST /v1/events``: validate a batch, then append it to the events stream in one step.

Validation looks at every event before anything is written: one bad event rejects the whole
batch with 422 ``invalid_events`` listing each ``{"index", "field", "reason"}``.

Accepted events go to Redis in one round trip (``storage.events``): one atomic script
de-duplicates on ``event_id``, appends to the stream (fields ``user_id item_id event timestamp
[rec_id] [event_id]``, ``timestamp`` in UTC ISO-8601 with ``Z``) and counts A/B attribution (a
click, cart or purchase of the variant whose ``rec_id`` it carries, or the reason it was
rejected, ``serving.attribution``); a ``purchase`` also adds the item to the user's recent
purchases (``purchased``, bounded and expiring), which recommendations read, so the item is
excluded from the next response at once. When Redis fails mid-call the answer is a 503 that says
the batch may have been stored (``MAYBE_STORED``): ``event_id`` is the way to exactly-once.

The vocabulary is the set of event types of the live version's ``events.weights`` (written by
``publish``); with no live version, ``DEFAULT_WEIGHTS``. ``timestamp`` is required (the spec's
data contract): ISO-8601 *with* an offset, or epoch seconds (a number).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import redis.exceptions

from recommender.config import DEFAULT_WEIGHTS, RealtimeConfig
from serving.errors import InvalidRequest, ServingError
from serving.rec_ids import Rejection
from storage import events as stream
from storage.errors import NoLiveModel, StoreUnavailable
from storage.events import Attribution, StreamEvent
from storage.reader import Store

MAX_EVENTS = 1000
MAX_FUTURE = timedelta(days=1)
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
"""The earliest event time accepted, as for epoch seconds (the sink and the loaders keep
timestamps as 64-bit nanoseconds, which end before the years 1677 and 2262)."""
TIME_RANGE = f"send a time from {EARLIEST:%Y-%m-%d} to a day from now"
MAX_ID_LENGTH = 256
PURCHASE = "purchase"
MAYBE_STORED = (
    "Redis failed or stalled during the call: the batch may have been stored. Send it again "
    "once Redis answers: events with an event_id are stored once whatever the retries; events "
    "without one may be stored twice"
)
"""The 503 message of a batch whose write was not confirmed."""


class InvalidEvents(InvalidRequest):
    code = "invalid_events"


class TooManyEvents(ServingError):
    status, code = 413, "too_many_events"


@dataclass(frozen=True)
class Event:
    """One validated event, ready for the stream."""

    user_id: str
    item_id: str
    event: str
    timestamp: datetime
    rec_id: str | None
    event_id: str | None

    def fields(self) -> list[str]:
        """Flat ``field, value, ...`` list of the stream entry."""
        out = ["user_id", self.user_id, "item_id", self.item_id, "event", self.event,
               "timestamp", self.timestamp.isoformat().replace("+00:00", "Z")]
        if self.rec_id is not None:
            out += ["rec_id", self.rec_id]
        if self.event_id is not None:
            out += ["event_id", self.event_id]
        return out


def events_of(payload: Any) -> list[Any]:
    """The event list of a body: ``{"events": [...]}`` or a bare list."""
    if isinstance(payload, dict) and isinstance(payload.get("events"), list):
        events = payload["events"]
    elif isinstance(payload, list):
        events = payload
    else:
        raise InvalidRequest('body: expected {"events": [...]} or a JSON array of events')
    if not events:
        raise InvalidRequest("body: no events")
    if len(events) > MAX_EVENTS:
        raise TooManyEvents(f"{len(events)} events in one call; send at most {MAX_EVENTS}")
    return events


def parse_body(raw: bytes) -> list[Any]:
    """The events of a raw request body (422 when it is not JSON)."""
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"body: not valid JSON ({exc})") from None
    return events_of(payload)


def _text(value: Any, field: str, required: bool) -> tuple[str | None, str | None]:
    """``(value, None)`` or ``(None, reason)`` for a string field."""
    if value is None:
        return None, f"{field} is required" if required else None
    if not isinstance(value, str) or not value.strip():
        return None, "expected a non-empty string"
    if len(value) > MAX_ID_LENGTH:
        return None, f"longer than {MAX_ID_LENGTH} characters"
    return value, None


def parse_timestamp(value: Any, now: datetime) -> tuple[datetime | None, str | None]:
    """An ISO-8601 string with offset or epoch seconds, as UTC; or the reason it is not."""
    if value is None:
        return None, "timestamp is required (ISO-8601 with offset, or epoch seconds)"
    if isinstance(value, bool):
        return None, "expected ISO-8601 with offset or epoch seconds, got a boolean"
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            return None, f"epoch seconds must be a finite number >= 0, got {value!r}"
        try:
            parsed = datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            return None, f"epoch seconds out of range: {value!r}"
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return None, f"not an ISO-8601 date-time: {value!r}"
        if parsed.tzinfo is None:
            return None, f"needs a UTC offset such as +08:00 or Z: {value!r}"
        try:
            parsed = parsed.astimezone(UTC)
        except OverflowError:  # near year 1 or 9999, the offset leaves the calendar
            return None, f"out of range: {value!r}; {TIME_RANGE}"
    else:
        return None, f"expected ISO-8601 with offset or epoch seconds, got {type(value).__name__}"
    if parsed < EARLIEST:
        return None, f"too early: {value!r}; {TIME_RANGE}"
    if parsed > now + MAX_FUTURE:
        return None, f"more than a day in the future: {value!r}; {TIME_RANGE}"
    return parsed, None


def validate(events: list[Any], vocabulary: Collection[str], now: datetime
             ) -> tuple[list[Event], list[dict[str, Any]]]:
    """Every event parsed, and a ``{"index", "field", "reason"}`` for each problem found."""
    good: list[Event] = []
    problems: list[dict[str, Any]] = []
    for index, raw in enumerate(events):
        if not isinstance(raw, dict):
            problems.append({"index": index, "field": None, "reason": "expected a JSON object"})
            continue
        values: dict[str, Any] = {}
        for field, required in (("user_id", True), ("item_id", True), ("event", True),
                                ("rec_id", False), ("event_id", False)):
            values[field], reason = _text(raw.get(field), field, required)
            if reason:
                problems.append({"index": index, "field": field, "reason": reason})
        if values["event"] is not None and values["event"] not in vocabulary:
            problems.append({"index": index, "field": "event",
                             "reason": f"unknown event {values['event']!r}; expected one of "
                                       f"{sorted(vocabulary)}"})
            values["event"] = None
        timestamp, reason = parse_timestamp(raw.get("timestamp"), now)
        if reason:
            problems.append({"index": index, "field": "timestamp", "reason": reason})
        if None not in (values["user_id"], values["item_id"], values["event"], timestamp):
            good.append(Event(timestamp=timestamp, **values))  # type: ignore[arg-type]
    return good, problems


@dataclass(frozen=True)
class EventRules:
    """What the live version says about events: the weight of each type (its keys are the
    vocabulary) and the real-time settings."""

    weights: dict[str, float]
    realtime: RealtimeConfig


async def current_rules(live: Any) -> EventRules:
    """The live version's event rules; the defaults while nothing is published."""
    try:
        view = await live.current()
    except NoLiveModel:
        return EventRules(dict(DEFAULT_WEIGHTS), RealtimeConfig())
    return EventRules(dict(view.manifest.events.weights or DEFAULT_WEIGHTS),
                      view.manifest.realtime)


async def append(
    store: Store,
    events: list[Event],
    targets: Sequence[Attribution | Rejection | None] | None = None,
    window_seconds: float = 0,
    rules: EventRules | None = None,
    monitor: Callable[[list[int]], Awaitable[None]] | None = None,
) -> tuple[int, int]:
    """Append ``events`` (``storage.events.append``); ``(accepted, duplicates)``.

    ``targets`` (``serving.attribution.targets``) says per event what it counts for A/B tests;
    ``window_seconds`` is how long one user's event on one item is counted only once; ``rules``
    (``current_rules``) weigh the events for live state and trending. When Redis
    fails or stalls mid-call, the batch may have been stored (the script may have run and its
    reply been lost): ``StoreUnavailable`` says so (``MAYBE_STORED``), whatever the failure.
    Sending it again is safe for events with an ``event_id``; others may be stored twice.
    """
    targets = targets or [None] * len(events)
    rules = rules or EventRules(dict(DEFAULT_WEIGHTS), RealtimeConfig())
    weights = rules.weights
    entries = [
        StreamEvent(e.fields(), e.user_id, e.item_id, e.event_id, e.event == PURCHASE,
                    attribution=t if isinstance(t, Attribution) else None,
                    rejected=t.value if isinstance(t, Rejection) else None,
                    weight=float(weights.get(e.event, 0.0)), seconds=e.timestamp.timestamp())
        for e, t in zip(events, targets, strict=True)
    ]
    try:
        return await stream.append(store, entries, math.ceil(window_seconds), rules.realtime,
                                   monitor)
    except (StoreUnavailable, redis.exceptions.RedisError) as exc:
        raise StoreUnavailable(MAYBE_STORED) from exc
