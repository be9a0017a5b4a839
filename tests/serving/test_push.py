"""GET /v1/users/{user_id}/push on a variant of the test shop.

Here ``u1`` bought only p0, so its breakfast slot list is [p1]; ``pnew`` is the new breakfast
product. A push to u1 at breakfast is therefore [p1 (slot:breakfast), pnew (new)].
"""

from __future__ import annotations

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


def ids(response: httpx.Response) -> list[str]:
    return [item["item_id"] for item in response.json()["items"]]


async def test_a_breakfast_regular_gets_breakfast_items_and_the_push_is_recorded(
    shop: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    response = await get(shop, "u1", BREAKFAST)
    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == "u1" and body["slot"] == "breakfast"
    assert body["send_at"] == BREAKFAST
    assert [(i["item_id"], i["reason"]) for i in body["items"]] == [
        ("p1", "slot:breakfast"), ("pnew", "new")]
    assert body["model"] == {"name": "shop", "version": "1"} and len(body["rec_id"]) == 32
    keys = Keys(prefix)
    assert redis_client.get(keys.push_count("u1", "2026-11-21")) == b"1"
    assert redis_client.ttl(keys.push_count("u1", "2026-11-21")) > 0
    sent = redis_client.zrange(keys.pushed("u1"), 0, -1, withscores=True)
    at = datetime(2026, 11, 20, 23, 30, tzinfo=UTC).timestamp()
    assert sorted(sent) == [(b"p1", at), (b"pnew", at)]
    assert redis_client.ttl(keys.pushed("u1")) > 7 * 24 * 3600


@pytest.mark.parametrize(
    ("user", "at", "why"),
    [
        ("u1", "2026-11-21T06:29:00+08:00", "before the breakfast slot"),
        ("u1", "2026-11-21T12:00:00+08:00", "no slot at noon"),
        ("u1", "2026-11-21T22:30:00+08:00", "the late slot is in quiet hours (22:00-06:30)"),
        ("u0", BREAKFAST, "u0 buys snacks: no breakfast affinity"),
        ("u2", BREAKFAST, "u2 reads articles: no breakfast affinity"),
        ("stranger", BREAKFAST, "an unknown user has no affinity"),
    ],
)
async def test_no_push_is_due(shop: httpx.AsyncClient, user: str, at: str, why: str) -> None:
    response = await get(shop, user, at)
    assert response.status_code == 204, why
    assert response.content == b""


async def test_the_late_slot_pushes_before_quiet_hours(shop: httpx.AsyncClient) -> None:
    response = await get(shop, "u1", "2026-11-21T21:30:00+08:00")
    assert response.status_code == 200 and response.json()["slot"] == "late"


async def test_an_item_is_not_pushed_again_within_seven_days(shop: httpx.AsyncClient) -> None:
    assert ids(await get(shop, "u1", BREAKFAST)) == ["p1", "pnew"]
    assert (await get(shop, "u1", "2026-11-21T08:00:00+08:00")).status_code == 204
    assert (await get(shop, "u1", "2026-11-28T07:29:00+08:00")).status_code == 204
    assert ids(await get(shop, "u1", "2026-11-28T07:31:00+08:00")) == ["p1", "pnew"]


async def test_the_daily_cap(app: FastAPI, redis_client: redis.Redis, prefix: str) -> None:
    publish_shop(redis_client, prefix, max_per_user_per_day=1)
    async with await client_for(app) as client:
        assert (await get(client, "u1", BREAKFAST)).status_code == 200
        redis_client.delete(Keys(prefix).pushed("u1"))  # items free again: only the cap stops it
        assert (await get(client, "u1", "2026-11-21T08:00:00+08:00")).status_code == 204
        redis_client.delete(Keys(prefix).pushed("u1"))
        assert (await get(client, "u1", "2026-11-22T07:00:00+08:00")).status_code == 200


async def test_purchased_and_unavailable_items_are_not_pushed(
    shop: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    posted = await shop.post("/v1/events", json=[{"user_id": "u1", "item_id": "p1",
                                                  "event": "purchase", "timestamp": BREAKFAST}])
    assert posted.status_code == 202
    assert ids(await get(shop, "u1", BREAKFAST)) == ["pnew"]
    redis_client.delete(Keys(prefix).pushed("u1"))
    redis_client.sadd(Keys(prefix).unavailable(), "pnew")
    assert (await get(shop, "u1", "2026-11-21T08:00:00+08:00")).status_code == 204


async def test_errors(shop: httpx.AsyncClient, app: FastAPI) -> None:
    bad = await get(shop, "u1", "tomorrow")
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_request"
    async with await client_for(app, "wrong") as client:
        assert (await get(client, "u1", BREAKFAST)).status_code == 401
