"""GET /v1/items/{item_id}/similar and GET /v1/popular on the test shop."""

from __future__ import annotations

import httpx
import pytest
import redis

from storage.keys import Keys
from tests.serving.test_recommendations import NOON, ids, reasons

pytestmark = pytest.mark.anyio


async def test_similar_items_are_available_items_of_the_same_kind(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/items/p0/similar")
    assert response.status_code == 200
    body = response.json()
    assert ids(response) == ["p1", "p4", "p2", "p3"]  # p5 is unavailable, c* are content
    assert set(reasons(response)) == {"similar"}
    assert [item["score"] for item in body["items"]] == pytest.approx([0.9, 0.5, 0.2, 0.1],
                                                                      abs=0.002)
    assert {k: body[k] for k in ("item_id", "kind", "model", "experiment", "variant")} == {
        "item_id": "p0", "kind": "product", "model": {"name": "shop", "version": "1"},
        "experiment": None, "variant": None,
    }
    assert ids(await api.get("/v1/items/c0/similar")) == ["c1"]
    assert ids(await api.get("/v1/items/p0/similar", params={"n": 2})) == ["p1", "p4"]


async def test_similar_items_skip_what_became_unavailable(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    redis_client.sadd(Keys(prefix).unavailable(), "p1")
    assert ids(await api.get("/v1/items/p0/similar")) == ["p4", "p2", "p3"]


async def test_an_unknown_item_is_404_and_a_new_one_has_no_neighbours_yet(
    api: httpx.AsyncClient,
) -> None:
    missing = await api.get("/v1/items/nope/similar")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "unknown_item", "message": "item 'nope' is not in the published catalog"}
    }
    fresh = await api.get("/v1/items/pnew/similar")
    assert fresh.status_code == 200 and fresh.json()["items"] == []


async def test_similar_n_out_of_range_is_422(api: httpx.AsyncClient) -> None:
    response = await api.get("/v1/items/p0/similar", params={"n": 101})
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "invalid_request", "message": "query.n: Input should be less than or equal to 100"
    }


async def test_popular_is_slot_aware(api: httpx.AsyncClient) -> None:
    noon = await api.get("/v1/popular", params={"at": NOON})
    assert noon.status_code == 200
    assert ids(noon) == ["p1", "p4", "p0"] and noon.json()["slot"] is None
    assert [item["score"] for item in noon.json()["items"]] == pytest.approx(
        [1.0, 6 / 9, 5 / 9], abs=0.005
    )
    breakfast = await api.get("/v1/popular", params={"at": "2026-11-21T07:00:00+08:00"})
    assert ids(breakfast) == ["p1", "p0", "p4"] and breakfast.json()["slot"] == "breakfast"
    assert set(reasons(breakfast)) == {"popular"}
    content = await api.get("/v1/popular", params={"kind": "content", "n": 1})
    assert ids(content) == ["c0"] and content.json()["model"] == {"name": "shop", "version": "1"}


async def test_popular_skips_unavailable_items(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    redis_client.sadd(Keys(prefix).unavailable(), "p4")
    assert ids(await api.get("/v1/popular", params={"at": NOON})) == ["p1", "p0"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"n": 0}, "query.n: Input should be greater than or equal to 1"),
        ({"kind": "x"}, "query.kind: Input should be 'product' or 'content'"),
        ({"at": "25:00"}, "query.at: expected an ISO-8601 date-time such as "
                          "2026-11-21T07:30:00+08:00, got '25:00'"),
    ],
)
async def test_popular_bad_parameters_are_422(
    api: httpx.AsyncClient, params: dict[str, object], message: str
) -> None:
    response = await api.get("/v1/popular", params=params)
    assert (response.status_code, response.json()) == (
        422, {"error": {"code": "invalid_request", "message": message}}
    )
