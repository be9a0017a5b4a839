"""POST /v1/events: validation, the stream, idempotency, the purchase effect and its bounds,
and truthful errors when Redis fails mid-call."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

import storage.events
from serving.events import MAYBE_STORED
from storage.errors import StoreUnavailable
from storage.events import PURCHASED_DAYS, PURCHASED_MAX, record_purchases
from storage.keys import Keys
from tests.serving.conftest import client_for

pytestmark = pytest.mark.anyio

URL = "/v1/events"
NOON = "2026-11-20T04:00:00Z"


def event(**fields: Any) -> dict[str, Any]:
    base = {"user_id": "u0", "item_id": "p2", "event": "view",
            "timestamp": "2026-11-21T07:35:00+08:00"}
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def stream(client: redis.Redis, prefix: str) -> list[dict[str, str]]:
    entries = client.xrange(Keys(prefix).events())
    return [{k.decode(): v.decode() for k, v in fields.items()} for _, fields in entries]


async def test_accepted_events_land_in_the_stream_in_utc(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    response = await api.post(URL, json={"events": [
        event(rec_id="r1", event_id="e1"), event(user_id="u1", event="click", timestamp=0),
    ]})
    assert response.status_code == 202
    assert response.json() == {"accepted": 2, "duplicates": 0}
    assert stream(redis_client, prefix) == [
        {"user_id": "u0", "item_id": "p2", "event": "view", "timestamp": "2026-11-20T23:35:00Z",
         "rec_id": "r1", "event_id": "e1"},
        {"user_id": "u1", "item_id": "p2", "event": "click",
         "timestamp": "1970-01-01T00:00:00Z"},
    ]


async def test_a_bare_list_is_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post(URL, json=[event(timestamp=1_790_000_000.5)])
    assert (response.status_code, response.json()) == (202, {"accepted": 1, "duplicates": 0})


async def test_one_bad_event_rejects_the_batch_naming_each_problem(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    batch = [event(), event(event="like"), event(timestamp=None, user_id=""),
             event(timestamp="2026-11-21T07:35:00"), "nope", event(timestamp="yesterday")]
    response = await api.post(URL, json={"events": batch})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_events"
    assert error["message"] == "5 of 6 events are invalid; none was stored"
    assert [(d["index"], d["field"]) for d in error["details"]] == [
        (1, "event"), (2, "user_id"), (2, "timestamp"), (3, "timestamp"), (4, None),
        (5, "timestamp"),
    ]
    reasons = [d["reason"] for d in error["details"]]
    assert "unknown event 'like'" in reasons[0] and "'purchase'" in reasons[0]
    assert reasons[2].startswith("timestamp is required")
    assert reasons[3].startswith("needs a UTC offset")
    assert reasons[4] == "expected a JSON object"
    assert reasons[5].startswith("not an ISO-8601 date-time")
    assert stream(redis_client, prefix) == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"events": [event()] * 1001}, 413, "too_many_events"),
        ({"events": []}, 422, "invalid_request"),
        ({"event": [event()]}, 422, "invalid_request"),
        (b"{not json", 422, "invalid_request"),
    ],
)
async def test_bad_bodies(api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str,
                          body: Any, status: int, code: str) -> None:
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = await api.post(URL, **kwargs)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert stream(redis_client, prefix) == []


async def test_exactly_1000_events_are_accepted(api: httpx.AsyncClient) -> None:
    response = await api.post(URL, json=[event(event_id=f"e{i}") for i in range(1000)])
    assert response.json() == {"accepted": 1000, "duplicates": 0}


@pytest.mark.parametrize("key", [None, "wrong"])
async def test_events_need_a_valid_key(app: FastAPI, key: str | None) -> None:
    async with await client_for(app, key) as client:
        response = await client.post(URL, json=[event()])
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"


async def test_event_ids_are_idempotent(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    first = await api.post(URL, json=[event(event_id="a"), event(event_id="a"), event()])
    assert first.json() == {"accepted": 2, "duplicates": 1}
    again = await api.post(URL, json=[event(event_id="a"), event(event_id="b")])
    assert again.json() == {"accepted": 1, "duplicates": 1}
    assert [e.get("event_id") for e in stream(redis_client, prefix)] == ["a", None, "b"]
    assert 0 < redis_client.ttl(Keys(prefix).event_seen("a")) <= 7 * 24 * 3600


async def test_a_purchase_is_excluded_from_the_next_recommendations(
    api: httpx.AsyncClient,
) -> None:
    url = "/v1/users/u0/recommendations"
    before = await api.get(url, params={"at": NOON})
    assert [i["item_id"] for i in before.json()["items"]] == ["p2", "p3", "p0", "p1"]
    posted = await api.post(URL, json={"events": [event(event="purchase")]})
    assert posted.status_code == 202
    after = await api.get(url, params={"at": NOON})
    assert [i["item_id"] for i in after.json()["items"]] == ["p3", "p0", "p1"]


async def test_a_view_has_no_effect_on_recommendations(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    await api.post(URL, json=[event(event="view")])
    assert redis_client.exists(Keys(prefix).purchased("u0")) == 0


async def test_events_are_accepted_before_any_model_is_published(app: FastAPI) -> None:
    async with await client_for(app) as client:
        ok = await client.post(URL, json=[event(event="share")])
        bad = await client.post(URL, json=[event(event="like")])
    assert ok.status_code == 202
    assert bad.status_code == 422


@pytest.mark.parametrize("timestamp", [
    "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00", "0001-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z", 1e300, -1,
])
async def test_timestamps_out_of_range_are_422_naming_the_event(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str, timestamp: Any
) -> None:
    response = await api.post(URL, json=[event(), event(timestamp=timestamp)])
    assert response.status_code == 422
    (detail,) = response.json()["error"]["details"]
    assert (detail["index"], detail["field"]) == (1, "timestamp")
    assert repr(timestamp) in detail["reason"]
    assert stream(redis_client, prefix) == []


def purchases(user: str, items: range, **fields: Any) -> list[dict[str, Any]]:
    return [event(user_id=user, item_id=f"x{i:05d}", event="purchase", **fields) for i in items]


async def test_a_users_purchases_are_bounded_and_expire_whatever_their_history(
    api: httpx.AsyncClient, app: FastAPI, redis_client: redis.Redis, prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for start in range(0, 10_000, 1000):
        response = await api.post(URL, json=purchases("u0", range(start, start + 1000)))
        assert response.json() == {"accepted": 1000, "duplicates": 0}
    await api.post(URL, json=purchases("u1", range(1)))
    key = Keys(prefix).purchased("u0")
    assert redis_client.zcard(key) == PURCHASED_MAX
    assert min(redis_client.zrange(key, 0, -1)) >= b"x09000"  # the most recent are kept
    assert 0 < redis_client.ttl(key) <= PURCHASED_DAYS * 24 * 3600
    assert 0 < redis_client.ttl(Keys(prefix).purchased("u1")) <= PURCHASED_DAYS * 24 * 3600

    read: dict[str, int] = {}
    bundle = app.state.store.bundle

    async def counting(field: str, hashes: Any, sets: Any = (), sorted_sets: Any = ()) -> Any:
        found = await bundle(field, hashes, sets, sorted_sets)
        if sorted_sets:  # the user's purchases come after the plain sets
            read[field] = len(found.sets[len(sets)])
        return found

    monkeypatch.setattr(app.state.store, "bundle", counting)
    for user in ("u0", "u1"):
        assert (await api.get(f"/v1/users/{user}/recommendations")).status_code == 200
    assert read == {"u0": PURCHASED_MAX, "u1": 1}  # what a request reads is bounded


async def test_old_purchases_drop_out_and_a_plain_set_of_before_is_replaced(
    app: FastAPI, redis_client: redis.Redis, prefix: str
) -> None:
    store, key = app.state.store, Keys(prefix).purchased("u0")
    redis_client.sadd(key, "legacy")
    now = float(int(time.time()))
    await record_purchases(store, {"u0": ["old"]}, now - PURCHASED_DAYS * 24 * 3600 - 60)
    assert redis_client.type(key) == b"zset" and redis_client.zrange(key, 0, -1) == [b"old"]
    await record_purchases(store, {"u0": ["new", "new"]}, now)
    assert redis_client.zrange(key, 0, -1, withscores=True) == [(b"new", now)]


async def test_a_failure_after_the_write_says_the_batch_may_be_stored_and_ids_make_it_once(
    api: httpx.AsyncClient, app: FastAPI, redis_client: redis.Redis, prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = app.state.store
    script, record = store.script, storage.events.record_live

    async def reply_lost(*args: Any) -> Any:  # the script ran, its reply never came
        await script(*args)
        raise StoreUnavailable("Redis is unreachable")

    async def refused(*args: Any) -> None:  # the stream written, the purchases refused
        await record(*args)
        raise redis.exceptions.ResponseError("OOM command not allowed")

    batch = [event(event_id="a"), event(event_id="b", event="purchase")]
    for fault in ("script", "purchases"):
        with monkeypatch.context() as patch:
            if fault == "script":
                patch.setattr(store, "script", reply_lost)
            else:
                patch.setattr(storage.events, "record_live", refused)
            response = await api.post(URL, json=batch)
        assert response.status_code == 503
        assert response.json()["error"] == {"code": "redis_unavailable", "message": MAYBE_STORED}
        assert "may have been stored" in MAYBE_STORED and "event_id" in MAYBE_STORED
    assert [e["event_id"] for e in stream(redis_client, prefix)] == ["a", "b"]  # stored once
    again = await api.post(URL, json=batch)
    assert again.json() == {"accepted": 0, "duplicates": 2}
    assert len(stream(redis_client, prefix)) == 2
