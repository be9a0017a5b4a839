"""Live state: what a user does changes their next response, without a publish (see ``world``:
p2 and p3 are lunch, similar 0.9; p0 and p1 breakfast, similar 0.9)."""

from __future__ import annotations

import time

import httpx
import pytest
import redis
from fastapi import FastAPI

from recommender.config import RealtimeConfig
from storage.keys import Keys
from tests.serving import world
from tests.serving.conftest import client_for

pytestmark = pytest.mark.anyio

NOON = "2026-11-20T04:00:00Z"
URL = "/v1/users/{}/recommendations"


def views(user: str, *items: str, event: str = "view") -> list[dict[str, object]]:
    now = time.time()
    return [{"user_id": user, "item_id": item, "event": event, "timestamp": now - 10 + i}
            for i, item in enumerate(items)]


async def test_a_new_user_is_personalized_from_their_first_event(api: httpx.AsyncClient) -> None:
    before = (await api.get(URL.format("visitor"), params={"at": NOON})).json()
    assert before["fallback"] is True
    assert (await api.post("/v1/events", json=views("visitor", "p2"))).status_code == 202
    body = (await api.get(URL.format("visitor"), params={"at": NOON})).json()
    assert body["fallback"] is False
    session = {item["item_id"]: item for item in body["items"] if item["reason"] == "session"}
    assert body["items"][0]["reason"] == "session"
    assert session["p3"]["because"] == "p2" and next(iter(session)) in {"p3", "p4"}
    assert "p2" not in [item["item_id"] for item in body["items"]]  # what they just saw


async def test_a_known_users_list_follows_what_they_look_at(api: httpx.AsyncClient) -> None:
    before = [i["item_id"] for i in (await api.get(URL.format("u0"), params={"at": NOON})
                                      ).json()["items"]]
    assert before == ["p2", "p3", "p0", "p1"]
    await api.post("/v1/events", json=views("u0", "p0"))
    after = (await api.get(URL.format("u0"), params={"at": NOON})).json()
    got = [i["item_id"] for i in after["items"]]
    assert "p0" not in got[:3]  # seen live, not repeatable: only fills a list run short
    assert "p4" not in got  # bought in training: no session item brings it back
    assert got.index("p1") < before.index("p1")  # p0's neighbour moved up
    assert {"item_id": "p1", "reason": "session", "because": "p0"}.items() <= next(
        i for i in after["items"] if i["item_id"] == "p1").items()
    assert after["fallback"] is False


async def test_live_state_is_bounded_in_count_and_time(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    limit = RealtimeConfig().max_items
    items = [f"x{i}" for i in range(limit + 15)]
    await api.post("/v1/events", json=views("busy", *items))
    old = time.time() - RealtimeConfig().window_hours * 3600 - 60
    await api.post("/v1/events", json=[{"user_id": "late", "item_id": "p0", "event": "view",
                                        "timestamp": old}])
    key = Keys(prefix).recent("busy")
    assert redis_client.zcard(key) == limit
    assert [m.decode() for m in redis_client.zrange(key, 0, -1)] == items[-limit:]
    assert 0 < redis_client.ttl(key) <= RealtimeConfig().window_hours * 3600
    assert redis_client.exists(Keys(prefix).recent("late")) == 0  # too old to count


async def test_trending_lifts_what_sells_now_in_popular_lists(
    api: httpx.AsyncClient, app: FastAPI
) -> None:
    def popular(response: httpx.Response) -> list[str]:
        return [item["item_id"] for item in response.json()["items"]]

    before = popular(await api.get("/v1/popular", params={"at": NOON}))
    assert "p3" not in before  # no training history
    batch = [event for user in range(12) for event in views(f"buyer{user}", "p3", "p3",
                                                               event="purchase")]
    assert (await api.post("/v1/events", json=batch)).status_code == 202
    await app.state.trending.refresh()
    after = popular(await api.get("/v1/popular", params={"at": NOON}))
    assert "p3" in after  # trending adds what sells now
    cold = (await api.get(URL.format("nobody"), params={"at": NOON})).json()
    assert cold["fallback"] is True and cold["items"][0]["item_id"] == after[0]


async def test_similar_items_for_a_user_leave_out_what_they_bought_or_saw(
    api: httpx.AsyncClient,
) -> None:
    url = "/v1/items/p2/similar"
    assert [i["item_id"] for i in (await api.get(url)).json()["items"]][:2] == ["p3", "p4"]
    await api.post("/v1/events", json=views("shopper", "p3", event="purchase"))
    await api.post("/v1/events", json=views("shopper", "p4"))
    mine = [i["item_id"] for i in (await api.get(url, params={"user_id": "shopper"})
                                   ).json()["items"]]
    assert "p3" not in mine and "p4" not in mine and mine
    assert "p3" in [i["item_id"] for i in (await api.get(url)).json()["items"]]


async def test_items_carry_their_catalog_titles(api: httpx.AsyncClient) -> None:
    for url, params in ((URL.format("u0"), {"at": NOON}), ("/v1/items/p2/similar", {}),
                        ("/v1/popular", {"at": NOON}), (URL.format("stranger"), {"at": NOON})):
        items = (await api.get(url, params=params)).json()["items"]
        assert items and all(item["title"] == f"title of {item['item_id']}" for item in items)


async def test_a_list_seen_through_is_filled_with_what_was_seen_not_left_empty(
    api: httpx.AsyncClient,
) -> None:
    await api.post("/v1/events", json=views("u0", "p0", "p1", "p2", "p3"))
    got = [i["item_id"] for i in (await api.get(URL.format("u0"), params={"at": NOON, "n": 4})
                                  ).json()["items"]]
    assert len(got) == 4  # every available product seen live: shown again, last


async def test_a_version_published_with_real_time_off_keeps_no_live_state(
    app: FastAPI, redis_client: redis.Redis, prefix: str
) -> None:
    world.publish(redis_client, prefix, realtime={"enabled": False})
    async with await client_for(app) as api:
        await api.post("/v1/events", json=views("visitor", "p2"))
        body = (await api.get(URL.format("visitor"), params={"at": NOON})).json()
    assert body["fallback"] is True
    assert redis_client.exists(Keys(prefix).recent("visitor")) == 0
    assert not list(redis_client.scan_iter(f"{prefix}*trend*"))


async def test_decoded_similar_lists_are_kept_in_a_bounded_cache(
    api: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from serving import version
    from storage.codec import decode_list

    monkeypatch.setattr(version, "DECODED_NEIGHBOURS", 2)
    view = await app.state.live.current()
    items = sorted(view.similar_of)[:3]
    assert len(items) == 3, "the world needs three items with similar lists"
    for item in items:
        got = view.neighbours(item)
        assert got is view.neighbours(item)  # decoded once
        expected = decode_list(view.similar_of[item])
        depth = view.realtime.session_depth
        assert got[0].typecode == "l" and got[1].typecode == "d"  # compact, for the C
        assert got[0].tolist() == expected.items[:depth].tolist()
        assert got[1].tolist() == pytest.approx(expected.scores[:depth].tolist())
        assert len(view.decoded) <= 2
    assert view.neighbours(10**9) is None  # no list: nothing decoded, nothing kept
