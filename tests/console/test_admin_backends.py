"""The console's admin routes on one Redis and on a real Redis Cluster (the app in-process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from storage.connect import connect
from tests.conftest import TEST_DB, delete_prefix
from tests.serving import world
from tests.serving.conftest import API_KEY, client_for, make_app

ADMIN = "admin-backends"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["node", "cluster"])
async def admin(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster").url
    else:
        url = f"{request.getfixturevalue('redis_server')}/{TEST_DB}"
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    client = connect(url)
    world.publish(client, prefix)
    app = make_app(url, prefix, admin_keys=ADMIN)
    try:
        async with await client_for(app, ADMIN) as http:
            yield http
    finally:
        await app.state.store.close()
        delete_prefix(client, prefix)
        client.close()


@pytest.mark.anyio
async def test_every_console_route_answers_on_both_backends(admin: httpx.AsyncClient) -> None:
    now = datetime.now(UTC).isoformat()
    events = [{"user_id": "u1", "item_id": "p2", "event": "view", "timestamp": now},
              {"user_id": "u1", "item_id": "p2", "event": "cart", "timestamp": now}]
    sent = await admin.post("/v1/events", json=events, headers={"X-API-Key": API_KEY})
    assert sent.status_code == 202
    overview = (await admin.get("/v1/admin/overview")).json()
    assert overview["models"][0]["live"]["version"] == "1"
    assert sum(sum(m["counts"].values()) for m in overview["events_per_minute"]) == 2
    today = (await admin.get("/v1/admin/monitoring", params={"days": 2})).json()["days"][-1]
    assert today["events"] == {"view": 1, "cart": 1} and today["active_users"] == 1
    user = (await admin.get("/v1/admin/users/u1")).json()
    assert [e["event"] for e in user["recent_events"]] == ["cart", "view"]
    assert user["known"] is True
    found = (await admin.get("/v1/admin/items", params={"q": "title of p2"})).json()
    assert [i["item_id"] for i in found["items"]] == ["p2"]
    marked = await admin.post("/v1/admin/items/p2/availability", json={"available": False})
    assert marked.json()["marked_unavailable"] is True
    similar = (await admin.get("/v1/admin/items/p3")).json()["similar"]
    assert "p2" not in [i["item_id"] for i in similar]
    assert (await admin.get("/v1/admin/experiments")).json() == []
