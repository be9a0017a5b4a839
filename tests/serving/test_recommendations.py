"""GET /v1/users/{user_id}/recommendations on the test shop (see ``world`` for the answers)."""

from __future__ import annotations

import httpx
import pytest
import redis

from storage.keys import Keys
from tests.serving import world

pytestmark = pytest.mark.anyio

NOON = "2026-11-20T04:00:00Z"  # 12:00 in Shanghai: no slot
URL = "/v1/users/{}/recommendations"


def ids(response: httpx.Response) -> list[str]:
    return [item["item_id"] for item in response.json()["items"]]


def reasons(response: httpx.Response) -> list[str]:
    return [item["reason"] for item in response.json()["items"]]


async def test_a_known_user_gets_unseen_available_products_best_first(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(URL.format("u0"), params={"at": NOON})
    assert response.status_code == 200
    body = response.json()
    assert ids(response) == ["p2", "p3", "p0", "p1"]  # p4 seen, p5 unavailable, c* content
    assert reasons(response) == ["personalized"] * 4
    assert [item["score"] for item in body["items"]] == pytest.approx([0.9, 0.8, 0.5, 0.3],
                                                                      abs=0.002)
    assert {k: body[k] for k in ("user_id", "kind", "slot", "model", "experiment", "variant",
                                 "fallback")} == {
        "user_id": "u0", "kind": "product", "slot": None,
        "model": {"name": "shop", "version": "1"}, "experiment": None, "variant": None,
        "fallback": False,
    }
    assert body["rec_id"] and body["rec_id"] != (  # signed: see test_ab_rec_ids
        await api.get(URL.format("u0"), params={"at": NOON})).json()["rec_id"]


async def test_n_limits_the_list_and_content_is_its_own_kind(api: httpx.AsyncClient) -> None:
    assert ids(await api.get(URL.format("u0"), params={"at": NOON, "n": 2})) == ["p2", "p3"]
    content = await api.get(URL.format("u2"), params={"kind": "content", "at": NOON})
    assert ids(content) == ["c1"] and content.json()["kind"] == "content"


@pytest.mark.parametrize(
    ("at", "slot", "expected", "why"),
    [
        ("2026-11-20T22:29:00Z", None, ["p2", "p3", "p0", "p1"], "06:29 local: before breakfast"),
        ("2026-11-20T22:30:00Z", "breakfast", ["p0", "p2", "p3", "p1"], "06:30: p0 boosted 2x"),
        ("2026-11-21T06:30:00+08:00", "breakfast", ["p0", "p2", "p3", "p1"], "same, with offset"),
        ("2026-11-21T01:29:59Z", "breakfast", ["p0", "p2", "p3", "p1"], "09:29:59: still on"),
        ("2026-11-21T01:30:00Z", None, ["p2", "p3", "p0", "p1"], "09:30: breakfast is over"),
        ("2026-11-21T06:45", "breakfast", ["p0", "p2", "p3", "p1"], "no offset = local time"),
    ],
)
async def test_the_breakfast_slot_boosts_its_items_between_0630_and_0930_shanghai_time(
    api: httpx.AsyncClient, at: str, slot: str | None, expected: list[str], why: str
) -> None:
    response = await api.get(URL.format("u0"), params={"at": at})
    assert response.json()["slot"] == slot, why
    assert ids(response) == expected, why
    if slot:
        assert reasons(response) == ["slot:breakfast", "personalized", "personalized",
                                     "slot:breakfast"]
        assert response.json()["items"][0]["score"] == pytest.approx(1.0, abs=0.005)


async def test_a_new_breakfast_product_reaches_a_breakfast_regular(api: httpx.AsyncClient) -> None:
    response = await api.get(URL.format("u1"), params={"at": NOON})
    assert ids(response) == ["p2", "pnew", "p3", "p4"]
    assert reasons(response) == ["personalized", "new", "personalized", "personalized"]
    assert response.json()["items"][1]["score"] == response.json()["items"][0]["score"]
    # u0 (snacks) has no affinity to breakfast: no new item for them.
    assert "pnew" not in ids(await api.get(URL.format("u0"), params={"at": NOON}))


async def test_an_unknown_user_gets_the_popular_list_with_fallback(api: httpx.AsyncClient) -> None:
    noon = await api.get(URL.format("stranger"), params={"at": NOON})
    assert noon.json()["fallback"] is True
    assert ids(noon) == ["p1", "p4", "p0"] and set(reasons(noon)) == {"popular"}
    breakfast = await api.get(URL.format("stranger"), params={"at": "2026-11-20T23:00:00Z"})
    assert ids(breakfast) == ["p1", "p0", "p4"] and breakfast.json()["slot"] == "breakfast"


async def test_a_purchase_is_excluded_from_the_next_request(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    assert "p2" in ids(await api.get(URL.format("u0"), params={"at": NOON}))
    redis_client.zadd(Keys(prefix).purchased("u0"), {"p2": 0})
    assert ids(await api.get(URL.format("u0"), params={"at": NOON})) == ["p3", "p0", "p1"]
    redis_client.zadd(Keys(prefix).purchased("stranger"), {"p1": 0})
    assert ids(await api.get(URL.format("stranger"), params={"at": NOON})) == ["p4", "p0"]


async def test_a_purchase_in_a_repeatable_category_is_offered_again(
    app: object, redis_client: redis.Redis, prefix: str
) -> None:
    from tests.serving.conftest import client_for

    world.publish(redis_client, prefix, rules={"repeatable_categories": ["lunch"]})
    redis_client.zadd(Keys(prefix).purchased("u0"), {"p2": 0, "p0": 0})
    async with await client_for(app) as client:  # type: ignore[arg-type]
        assert ids(await client.get(URL.format("u0"), params={"at": NOON})) == ["p2", "p3", "p1"]


async def test_unavailable_items_are_never_returned(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    redis_client.sadd(Keys(prefix).unavailable(), "p3", "p1")
    assert ids(await api.get(URL.format("u0"), params={"at": NOON})) == ["p2", "p0"]
    assert ids(await api.get(URL.format("stranger"), params={"at": NOON})) == ["p4", "p0"]
    redis_client.srem(Keys(prefix).unavailable(), "p3")
    assert ids(await api.get(URL.format("u0"), params={"at": NOON})) == ["p2", "p3", "p0"]


async def test_category_and_exclude_filter_the_list(api: httpx.AsyncClient) -> None:
    lunch = await api.get(URL.format("u0"), params={"at": NOON, "category": "lunch"})
    assert ids(lunch) == ["p2", "p3"]
    excluded = await api.get(URL.format("u0"), params={"at": NOON, "exclude": "p2, p0,unknown"})
    assert ids(excluded) == ["p3", "p1"]
    popular = await api.get(URL.format("stranger"), params={"at": NOON, "category": "breakfast"})
    assert ids(popular) == ["p1", "p0"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 0}, "query.n: Input should be greater than or equal to 1"),
        ({"n": 101}, "query.n: Input should be less than or equal to 100"),
        ({"n": "ten"}, "query.n: Input should be a valid integer, unable to parse string as an "
                       "integer"),
        ({"kind": "video"}, "query.kind: Input should be 'product' or 'content'"),
        ({"at": "tomorrow"}, "query.at: expected an ISO-8601 date-time such as "
                             "2026-11-21T07:30:00+08:00, got 'tomorrow'"),
    ],
)
async def test_bad_parameters_are_422_naming_the_field(
    api: httpx.AsyncClient, params: dict[str, object], message: str
) -> None:
    response = await api.get(URL.format("u0"), params=params)
    assert response.status_code == 422
    assert response.json() == {"error": {"code": "invalid_request", "message": message}}


async def test_without_new_items_a_short_list_still_skips_training_items_in_its_fill(
    app: object, redis_client: redis.Redis, prefix: str
) -> None:
    from tests.serving.conftest import client_for

    shop = world.catalog()
    shop.loc[shop["item_id"] == "pnew", "created_at"] = shop["created_at"].iloc[0]  # not new
    world.publish(redis_client, prefix, catalog=shop)
    async with await client_for(app) as client:  # type: ignore[arg-type]
        response = await client.get(URL.format("u0"), params={"at": NOON})
    # The list is short (4 < 10), so the profile is read to fill it: p4 (seen) stays out.
    assert ids(response) == ["p2", "p3", "p0", "p1"]


async def test_several_bad_parameters_are_all_named_and_unknown_ones_ignored(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(URL.format("u0"), params={"n": 0, "kind": "x", "colour": "red"})
    assert response.json() == {"error": {"code": "invalid_request", "message":
        "query.kind: Input should be 'product' or 'content'; "
        "query.n: Input should be greater than or equal to 1"}}
    fine = await api.get(URL.format("u0"), params={"at": NOON, "colour": "red"})
    assert fine.status_code == 200
