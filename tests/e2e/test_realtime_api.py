"""Real-time personalization end to end: a synthetic shop trained with a real model and published
to Redis (one node and a Redis Cluster), then events through the API and the next response.
Nothing here publishes again after the events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pandas as pd
import pytest
import redis

from recommender.config import DEFAULT_WEIGHTS, RecsysConfig
from recommender.matrix import build_interactions
from recommender.models import make_model
from recommender.synth import synthesize
from serving.main import create_app
from serving.settings import load_settings
from training.publish import publish_version

pytestmark = pytest.mark.anyio
KEY = "e2e-realtime-key"
URL = "/v1/users/{}/recommendations"
NOON = "2026-11-20T04:00:00Z"  # 12:00 in Shanghai: no slot boosts anything


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Shop:
    api: httpx.AsyncClient
    catalog: pd.DataFrame
    users: list[str]


@pytest.fixture(params=["node", "cluster"])
def redis_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def shop(redis_url: str, redis_client: redis.Redis, prefix: str) -> AsyncIterator[Shop]:
    data = synthesize(users=500, items=140, days=30, seed=11)
    train = build_interactions(data.events, DEFAULT_WEIGHTS, 0.0)
    model = make_model("itemknn", {}).fit(train.matrix)
    config = RecsysConfig.model_validate({"serving": {"prefix": prefix}})
    publish_version(redis_client, "realtime-shop", "1", model, train, data.catalog, config)
    app = create_app(load_settings(redis_url=redis_url, prefix=prefix, api_keys=KEY,
                                   live_refresh_seconds=0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers={"X-API-Key": KEY}) as api:
        yield Shop(api, data.catalog, list(train.users.ids))
    await app.state.store.close()


def category_of(shop: Shop) -> dict[str, str]:
    return dict(zip(shop.catalog["item_id"], shop.catalog["category"], strict=True))


async def post_views(shop: Shop, user: str, items: list[str]) -> None:
    now = time.time()
    events = [{"user_id": user, "item_id": item, "event": "view", "timestamp": now - 30 + i,
               "event_id": f"{user}-{item}-{i}"} for i, item in enumerate(items)]
    response = await shop.api.post("/v1/events", json={"events": events})
    assert response.status_code == 202 and response.json()["accepted"] == len(items)


async def test_a_new_visitor_who_views_breakfast_gets_breakfast(shop: Shop) -> None:
    categories = category_of(shop)
    breakfast = shop.catalog.query("category == 'breakfast' and available")["item_id"].tolist()
    before = (await shop.api.get(URL.format("qr-visitor"), params={"at": NOON})).json()
    assert before["fallback"] is True
    await post_views(shop, "qr-visitor", breakfast[:3])
    body = (await shop.api.get(URL.format("qr-visitor"), params={"at": NOON})).json()
    assert body["fallback"] is False
    got = [item["item_id"] for item in body["items"]]
    assert sum(categories[item] == "breakfast" for item in got) > len(got) / 2
    assert not set(got) & set(breakfast[:3])  # not what they just viewed
    session = [item for item in body["items"] if item["reason"] == "session"]
    assert session and all(item["because"] in breakfast[:3] for item in session)


async def test_a_known_users_list_turns_to_what_they_browse_now(shop: Shop) -> None:
    categories = category_of(shop)
    user = shop.users[0]
    before = (await shop.api.get(URL.format(user), params={"at": NOON})).json()
    mine = [item["item_id"] for item in before["items"]]
    other = next(c for c in ("drinks", "snacks", "dinner", "lunch", "breakfast")
                 if sum(categories[i] == c for i in mine) <= 2)
    browsed = [i for i in shop.catalog.query("category == @other and available")["item_id"]
               if i not in mine][:3]
    await post_views(shop, user, browsed)
    after = (await shop.api.get(URL.format(user), params={"at": NOON})).json()
    got = [item["item_id"] for item in after["items"]]
    assert got != mine
    assert (sum(categories[i] == other for i in got)
            > sum(categories[i] == other for i in mine))
