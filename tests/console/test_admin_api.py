"""The console's session, CSRF and admin JSON routes over HTTP (the same real server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from recsys_cli.demo_feed import feed_events
from tests.console.conftest import Shop
from tests.console.server import ADMIN_KEY, API_KEY
from tests.serving import world


@pytest.fixture
def session(shop: Shop) -> httpx.Client:
    """A client signed in to the console (cookie set), with the page's CSRF token kept."""
    client = httpx.Client(base_url=shop.base, timeout=10)
    response = client.post("/console/login", data={"key": ADMIN_KEY})
    assert response.status_code == 303
    page = client.get("/console/items").text
    token = page.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    client.headers["X-CSRF-Token-Value"] = token
    return client


def test_admin_routes_take_the_session_cookie(session: httpx.Client) -> None:
    assert session.get("/v1/admin/overview").status_code == 200


def test_a_state_change_with_the_cookie_needs_the_csrf_token(session: httpx.Client) -> None:
    url = "/v1/admin/items/p2/availability"
    response = session.post(url, json={"available": True})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    token = session.headers["X-CSRF-Token-Value"]
    response = session.post(url, json={"available": True}, headers={"X-CSRF-Token": token})
    assert response.status_code == 200
    assert response.json()["available"] is True


def test_a_forged_or_missing_session_is_401_and_an_api_key_403(shop: Shop) -> None:
    with httpx.Client(base_url=shop.base, cookies={"recsys_console": "e30.AAAA"}) as forger:
        forged = forger.get("/v1/admin/overview")
        assert forged.status_code == 401
        assert forged.json()["error"]["code"] == "unauthorized"
    with httpx.Client(base_url=shop.base) as client:
        assert client.get("/v1/admin/overview").status_code == 401
        assert client.get("/v1/admin/overview",
                          headers={"X-API-Key": API_KEY}).status_code == 403
        assert client.get("/v1/admin/overview",
                          headers={"X-API-Key": ADMIN_KEY}).status_code == 200


def test_a_page_without_a_session_redirects_to_sign_in(shop: Shop) -> None:
    with httpx.Client(base_url=shop.base) as client:
        response = client.get("/console/monitoring")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/login"


@pytest.mark.parametrize(("path", "status"), [
    ("/v1/admin/items/nope", 404),
    ("/v1/admin/items?limit=0", 422),
    ("/v1/admin/monitoring?days=999", 422),
    ("/v1/admin/experiments/nope/daily", 404),
])
def test_bad_input_is_a_4xx_in_the_error_shape(shop: Shop, path: str, status: int) -> None:
    response = shop.api.get(path, headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == status
    assert set(response.json()["error"]) >= {"code", "message"}


def test_making_an_unknown_version_live_is_404(shop: Shop) -> None:
    response = shop.api.post("/v1/admin/models/shop/live", json={"version": "99"},
                             headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_admin_routes_are_in_the_openapi_document(shop: Shop) -> None:
    paths = shop.api.get("/openapi.json").json()["paths"]
    for path in ("/v1/admin/overview", "/v1/admin/monitoring", "/v1/admin/users/{user_id}",
                 "/v1/admin/items", "/v1/admin/items/{item_id}/availability",
                 "/v1/admin/models/{name}/live", "/v1/admin/experiments"):
        assert path in paths
    assert "/docs" not in paths and "/console/login" not in paths


def test_the_demo_feed_moves_the_history_to_now(shop: Shop, tmp_path: Path) -> None:
    events = tmp_path / "events.csv"
    events.write_text("user_id,item_id,event,timestamp\n"
                      "feed-1,p2,view,2026-01-01T08:00:00+08:00\n"
                      "feed-1,p2,cart,2026-01-02T08:00:00+08:00\n"
                      "feed-2,p3,view,2025-10-01T08:00:00+08:00\n")  # older than the feed
    now = datetime.now(UTC)
    assert feed_events(shop.base, API_KEY, events, now=now) == 2
    user = shop.api.get("/v1/admin/users/feed-1", headers={"X-API-Key": ADMIN_KEY}).json()
    stamps = sorted(datetime.fromisoformat(e["timestamp"]) for e in user["recent_events"])
    assert abs(stamps[-1] - now) < timedelta(seconds=1)
    assert stamps[0] == stamps[-1] - timedelta(days=1)


def _today(shop: Shop) -> dict:
    response = shop.api.get("/v1/admin/monitoring", params={"days": 1},
                            headers={"X-API-Key": ADMIN_KEY})
    assert response.status_code == 200
    return response.json()["days"][-1]  # type: ignore[no-any-return]


def test_a_duplicate_event_is_not_counted_twice(shop: Shop) -> None:
    event = {"user_id": "dup-1", "item_id": "p3", "event": "share",
             "timestamp": datetime.now(UTC).isoformat(), "event_id": "dup-event-1"}
    before = _today(shop)["events"].get("share", 0)
    for _ in range(2):
        assert shop.api.post("/v1/events", json=[event]).status_code == 202
    assert _today(shop)["events"]["share"] == before + 1


def test_a_recorded_push_is_counted_in_its_day_and_slot(shop: Shop) -> None:
    before = _today(shop)
    local_day = before["day"]
    response = shop.api.post("/v1/users/u1/push", params={"at": f"{local_day}T07:30:00+08:00"},
                             json={"items": ["p2"]})
    assert response.status_code == 200, response.text
    after = _today(shop)
    assert after["pushes"] == before["pushes"] + 1
    assert after["pushes_by_slot"]["breakfast"] == before["pushes_by_slot"].get("breakfast", 0) + 1


def test_a_sign_in_posted_from_another_site_is_refused(shop: Shop) -> None:
    with httpx.Client(base_url=shop.base) as client:
        response = client.post("/console/login", data={"key": ADMIN_KEY},
                               headers={"Origin": "https://evil.example"})
        assert response.status_code == 403
        assert "recsys_console" not in response.cookies
        same = client.post("/console/login", data={"key": ADMIN_KEY},
                           headers={"Origin": shop.base})
        assert same.status_code == 303 and "recsys_console" in same.cookies


def test_metrics_count_events_by_type(shop: Shop) -> None:
    def shares() -> float:
        for line in shop.api.get("/metrics").text.splitlines():
            if line.startswith('recsys_events_total{event="share"}'):
                return float(line.split()[-1])
        return 0.0

    before = shares()
    event = {"user_id": "m-1", "item_id": "p3", "event": "share",
             "timestamp": datetime.now(UTC).isoformat()}
    assert shop.api.post("/v1/events", json=[event, event]).status_code == 202
    assert shares() == before + 2


def test_an_experiment_starts_reports_by_day_and_stops(shop: Shop) -> None:
    world.publish(shop.redis, shop.prefix, version="7", make_live=False)
    admin = {"X-API-Key": ADMIN_KEY}
    body = {"name": "console-ab", "kinds": ["content"], "variants": [
        {"name": "control", "model": "shop", "version": "1"},
        {"name": "treatment", "model": "shop", "version": "7"}]}
    started = shop.api.post("/v1/admin/experiments", json=body, headers=admin)
    assert started.status_code == 201, started.text
    assert shop.api.post("/v1/admin/experiments", json=body, headers=admin).status_code == 409
    missing = {**body, "name": "other", "kinds": ["product"],
               "variants": [body["variants"][0], {**body["variants"][1], "version": "99"}]}
    assert shop.api.post("/v1/admin/experiments", json=missing, headers=admin).status_code == 404
    try:
        recs = shop.api.get("/v1/users/u2/recommendations", params={"kind": "content"}).json()
        assert recs["experiment"] == "console-ab"
        click = {"user_id": "u2", "item_id": recs["items"][0]["item_id"], "event": "click",
                 "timestamp": datetime.now(UTC).isoformat(), "rec_id": recs["rec_id"]}
        assert shop.api.post("/v1/events", json=[click]).status_code == 202
        daily = shop.api.get("/v1/admin/experiments/console-ab/daily", headers=admin).json()
        (point,) = daily["variants"][recs["variant"]]
        assert point["clicks"] == 1 and point["impressions"] >= 1
        assert point["ctr"]["low"] <= point["ctr"]["value"] <= point["ctr"]["high"]
        assert point["cumulative_ctr"] == point["ctr"]
    finally:
        stopped = shop.api.post("/v1/admin/experiments/console-ab/stop", headers=admin)
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert shop.api.post("/v1/admin/experiments/console-ab/stop",
                         headers=admin).status_code == 409
    assert shop.api.post("/v1/admin/experiments/nope/stop", headers=admin).status_code == 404
