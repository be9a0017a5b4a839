"""GET and POST /v1/users/{user_id}/push on a variant of the test shop.

Here ``u1`` bought only p0, so its breakfast slot list is [p1]; ``pnew`` is the new breakfast
product. A push to u1 at breakfast is therefore [p1 (slot:breakfast), pnew (new)]. GET only
decides; POST records a push that was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from recommender.config import PushConfig, RecsysConfig
from storage.keys import Keys
from tests.serving import world
from tests.serving.conftest import client_for
from training.publish import publish_version

pytestmark = pytest.mark.anyio

URL = "/v1/users/{}/push"
BREAKFAST = "2026-11-21T07:30:00+08:00"
LATE = {"name": "late", "start": "21:00", "end": "23:00", "categories": ["breakfast"],
        "push": True, "push_items": 2}


def shop_config(prefix: str, push: dict[str, Any], late_slot: bool) -> RecsysConfig:
    base = world.config(prefix)
    rules = base.rules
    if late_slot:
        rules = rules.model_copy(update={"slots": [*rules.slots,
                                                   type(rules.slots[0]).model_validate(LATE)]})
    return base.model_copy(update={"push": PushConfig.model_validate(push), "rules": rules})


def publish_shop(client: redis.Redis, prefix: str, late_slot: bool = False, **push: Any) -> None:
    train = world.TRAIN.copy()
    train[1, 1] = 0.0  # u1 bought p0 only
    interactions = world.interactions(train)
    publish_version(client, "shop", "1", world.FixedScores().fit(interactions.matrix),
                    interactions, world.catalog(), shop_config(prefix, push, late_slot),
                    now=world.NOW)


@pytest.fixture
async def shop(app: FastAPI, redis_client: redis.Redis, prefix: str
               ) -> AsyncIterator[httpx.AsyncClient]:
    publish_shop(redis_client, prefix, late_slot=True)
    async with await client_for(app) as client:
        yield client


async def get(client: httpx.AsyncClient, user: str, at: str) -> httpx.Response:
    return await client.get(URL.format(user), params={"at": at})


async def sent(client: httpx.AsyncClient, user: str, items: list[str], at: str
               ) -> httpx.Response:
    return await client.post(URL.format(user), params={"at": at}, json={"items": items})


def ids(response: httpx.Response) -> list[str]:
    return [item["item_id"] for item in response.json()["items"]]


def reason(response: httpx.Response) -> str | None:
    assert response.status_code == 204 and response.content == b""
    return response.headers.get("X-Recsys-Reason")


async def test_a_breakfast_regular_gets_breakfast_items(shop: httpx.AsyncClient) -> None:
    response = await get(shop, "u1", BREAKFAST)
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "u1" and body["slot"] == "breakfast"
    assert body["send_at"] == BREAKFAST
    assert [(i["item_id"], i["reason"]) for i in body["items"]] == [
        ("p1", "slot:breakfast"), ("pnew", "new")]
    assert body["model"] == {"name": "shop", "version": "1"} and len(body["rec_id"]) == 32


async def test_asking_twice_gives_the_same_answer_and_records_nothing(
    shop: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    first, second = await get(shop, "u1", BREAKFAST), await get(shop, "u1", BREAKFAST)
    assert first.status_code == second.status_code == 200
    assert ids(first) == ids(second) == ["p1", "pnew"]
    keys = Keys(prefix)
    assert redis_client.exists(keys.push_count("u1", "2026-11-21"), keys.pushed("u1")) == 0


async def test_a_sent_push_is_recorded_and_counts(
    shop: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    response = await sent(shop, "u1", ["p1", "pnew"], BREAKFAST)
    assert response.status_code == 200
    assert response.json() == {"user_id": "u1", "items": ["p1", "pnew"], "sent_at": BREAKFAST,
                               "day": "2026-11-21"}
    keys = Keys(prefix)
    assert redis_client.get(keys.push_count("u1", "2026-11-21")) == b"1"
    assert redis_client.ttl(keys.push_count("u1", "2026-11-21")) > 0
    pushed = redis_client.zrange(keys.pushed("u1"), 0, -1, withscores=True)
    at = datetime(2026, 11, 20, 23, 30, tzinfo=UTC).timestamp()
    assert sorted(pushed) == [(b"p1", at), (b"pnew", at)]
    assert redis_client.ttl(keys.pushed("u1")) > 7 * 24 * 3600
    assert reason(await get(shop, "u1", "2026-11-21T08:00:00+08:00")) == "nothing_left"


@pytest.mark.parametrize(
    ("user", "at", "why"),
    [
        ("u1", "2026-11-21T06:29:00+08:00", "quiet_hours"),  # before breakfast: quiet hours
        ("u1", "2026-11-21T09:31:00+08:00", "no_push_slot"),  # after the breakfast slot
        ("u1", "2026-11-21T12:00:00+08:00", "no_push_slot"),  # no slot at noon
        ("u1", "2026-11-21T22:30:00+08:00", "quiet_hours"),  # the late slot, 22:00-06:30
        ("u0", BREAKFAST, "no_affinity"),  # u0 buys snacks
        ("u2", BREAKFAST, "no_affinity"),  # u2 reads articles
        ("stranger", BREAKFAST, "no_profile"),  # the version does not know this user
    ],
)
async def test_a_204_says_why_no_push_is_due(shop: httpx.AsyncClient, user: str, at: str,
                                             why: str) -> None:
    assert reason(await get(shop, user, at)) == why


async def test_the_late_slot_pushes_before_quiet_hours(shop: httpx.AsyncClient) -> None:
    response = await get(shop, "u1", "2026-11-21T21:30:00+08:00")
    assert response.status_code == 200 and response.json()["slot"] == "late"


async def test_an_item_is_not_pushed_again_within_seven_days(shop: httpx.AsyncClient) -> None:
    assert ids(await get(shop, "u1", BREAKFAST)) == ["p1", "pnew"]
    assert (await sent(shop, "u1", ["p1", "pnew"], BREAKFAST)).status_code == 200
    assert reason(await get(shop, "u1", "2026-11-21T08:00:00+08:00")) == "nothing_left"
    assert reason(await get(shop, "u1", "2026-11-28T07:29:00+08:00")) == "nothing_left"
    assert ids(await get(shop, "u1", "2026-11-28T07:31:00+08:00")) == ["p1", "pnew"]


async def test_recording_an_item_pushed_within_seven_days_is_refused(
    shop: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    assert (await sent(shop, "u1", ["p1"], BREAKFAST)).status_code == 200
    again = await sent(shop, "u1", ["pnew", "p1"], "2026-11-21T08:00:00+08:00")
    assert again.status_code == 409
    error = again.json()["error"]
    assert error["code"] == "push_repeated"
    assert error["message"].startswith("an item of this push was already pushed to user 'u1' "
                                       "in the last 7 days (push.no_repeat_days); nothing was "
                                       "recorded")
    keys = Keys(prefix)
    assert redis_client.get(keys.push_count("u1", "2026-11-21")) == b"1"
    assert redis_client.zrange(keys.pushed("u1"), 0, -1) == [b"p1"]


async def test_the_daily_cap(app: FastAPI, redis_client: redis.Redis, prefix: str) -> None:
    publish_shop(redis_client, prefix, max_per_user_per_day=1)
    async with await client_for(app) as client:
        assert (await sent(client, "u1", ["p1"], BREAKFAST)).status_code == 200
        assert reason(await get(client, "u1", "2026-11-21T08:00:00+08:00")) == "capped"
        refused = await sent(client, "u1", ["pnew"], "2026-11-21T08:00:00+08:00")
        assert refused.status_code == 409
        assert refused.json() == {"error": {"code": "push_capped", "message": (
            "user 'u1' already got 1 push(es) on 2026-11-21 (push.max_per_user_per_day); "
            "nothing was recorded: if it is not sent yet, do not send it")}}
        assert ids(await get(client, "u1", "2026-11-22T07:00:00+08:00")) == ["pnew"]


async def test_of_two_racing_records_of_the_last_push_one_is_refused(
    app: FastAPI, redis_client: redis.Redis, prefix: str
) -> None:
    publish_shop(redis_client, prefix, max_per_user_per_day=1)
    async with await client_for(app) as client:
        answers = await asyncio.gather(sent(client, "u1", ["p1"], BREAKFAST),
                                       sent(client, "u1", ["pnew"], BREAKFAST))
    assert sorted(answer.status_code for answer in answers) == [200, 409]
    assert redis_client.get(Keys(prefix).push_count("u1", "2026-11-21")) == b"1"


async def test_a_zero_cap_is_a_capped_204(app: FastAPI, redis_client: redis.Redis,
                                          prefix: str) -> None:
    publish_shop(redis_client, prefix, max_per_user_per_day=0)
    async with await client_for(app) as client:
        assert reason(await get(client, "u1", BREAKFAST)) == "capped"


async def test_purchased_and_unavailable_items_are_not_pushed(
    shop: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    posted = await shop.post("/v1/events", json=[{"user_id": "u1", "item_id": "p1",
                                                  "event": "purchase", "timestamp": BREAKFAST}])
    assert posted.status_code == 202
    assert ids(await get(shop, "u1", BREAKFAST)) == ["pnew"]
    redis_client.sadd(Keys(prefix).unavailable(), "pnew")
    assert reason(await get(shop, "u1", "2026-11-21T08:00:00+08:00")) == "nothing_left"


async def test_errors(shop: httpx.AsyncClient, app: FastAPI) -> None:
    bad = await get(shop, "u1", "tomorrow")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    async with await client_for(app, "wrong") as client:
        assert (await get(client, "u1", BREAKFAST)).status_code == 401
        assert (await sent(client, "u1", ["p1"], BREAKFAST)).status_code == 401


@pytest.mark.parametrize("items", [[], [""], "p1", None])
async def test_a_record_without_items_is_refused(shop: httpx.AsyncClient, items: Any) -> None:
    response = await shop.post(URL.format("u1"), json={"items": items})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_request"
    assert "body.items" in response.json()["error"]["message"]


async def test_recording_an_unknown_item_is_refused_and_records_nothing(
    shop: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    response = await sent(shop, "u1", ["p1", "p999"], BREAKFAST)
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "invalid_request", "message": (
        "body.items: not in the published catalog: 'p999'; record the items a GET of this "
        "route returned")}}
    assert redis_client.exists(Keys(prefix).pushed("u1")) == 0


@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00+08:00",  # before year 1 in UTC
     "0001-01-01T03:00:00",  # local time in Shanghai: before year 1 in UTC
     "9999-12-31T23:00:00Z",  # after year 9999 in Shanghai
     "9999-12-31T23:59:59.999999-12:00"],
)
async def test_an_instant_out_of_range_is_a_422_in_the_error_shape(
    shop: httpx.AsyncClient, at: str
) -> None:
    for response in (await get(shop, "u1", at), await sent(shop, "u1", ["p1"], at)):
        assert response.status_code == 422
        assert response.json() == {"error": {"code": "invalid_request", "message": (
            f"query.at: {at!r} is out of range, too close to year 1 or 9999 in the time zone "
            "Asia/Shanghai; send a date-time such as 2026-11-21T07:30:00+08:00")}}


async def test_the_openapi_document_declares_the_reason_header_and_the_record_route(
    shop: httpx.AsyncClient,
) -> None:
    route = (await shop.get("/openapi.json")).json()["paths"]["/v1/users/{user_id}/push"]
    header = route["get"]["responses"]["204"]["headers"]["X-Recsys-Reason"]
    assert header["schema"]["enum"] == ["quiet_hours", "no_push_slot", "capped", "no_profile",
                                        "no_affinity", "nothing_left"]
    assert "quiet_hours" in header["description"]
    assert set(route["post"]["responses"]) >= {"200", "401", "409", "422", "503"}
    assert route["post"]["requestBody"]["required"] is True
