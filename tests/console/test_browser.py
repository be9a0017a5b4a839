"""The console in a real browser (Chromium, Playwright) against a real server and Redis."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.sync_api import Browser, expect

from serving.console.pages import PAGES
from tests.console.conftest import Shop, Watched, sign_in, watch
from tests.console.server import ADMIN_KEY
from tests.serving import world


def wait_loaded(view: Watched) -> None:
    """Until the page's script has filled ``#content`` (it drops ``aria-busy``)."""
    view.page.wait_for_selector("#content:not([aria-busy])")


def api_items(shop: Shop, user_id: str, kind: str = "product") -> list[str]:
    response = shop.api.get(f"/v1/users/{user_id}/recommendations", params={"kind": kind})
    assert response.status_code == 200, response.text
    return [item["item_id"] for item in response.json()["items"]]


def test_signing_in_sets_a_strict_http_only_cookie_and_signing_out_ends_it(
        watched: Watched) -> None:
    page = watched.page
    page.goto("/console/overview")
    page.wait_for_url("**/console/login")
    sign_in(watched, "not-a-key")
    expect(page.locator(".message")).to_have_text("That is not an admin key.")
    assert [error for error in watched.errors if "401" in error]  # the page's status
    watched.errors.clear()
    sign_in(watched)
    page.wait_for_url("**/console/overview")
    wait_loaded(watched)
    (cookie,) = [c for c in page.context.cookies() if c["name"] == "recsys_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # not readable by scripts
    page.click("#sign-out")
    page.wait_for_url("**/console/login?out=1")
    assert not [c for c in page.context.cookies() if c["name"] == "recsys_console"]
    page.goto("/console/users")
    page.wait_for_url("**/console/login")
    assert watched.errors == [] and watched.outside == []


def test_every_page_loads_with_no_console_error_and_no_request_elsewhere(
        signed_in: Watched) -> None:
    page = signed_in.page
    for name in PAGES:
        page.goto(f"/console/{name}")
        wait_loaded(signed_in)
        page.wait_for_load_state("networkidle")
        assert page.locator(".error").count() == 0, (name, page.locator(".error").all_inner_texts())
    assert signed_in.errors == []
    assert signed_in.outside == []


def test_the_overview_shows_the_live_version(signed_in: Watched) -> None:
    wait_loaded(signed_in)
    live = signed_in.page.locator("[data-live-version]")
    expect(live).to_have_attribute("data-live-version", "1")
    expect(signed_in.page.locator("#content")).to_contain_text("shop")


def test_a_user_lookup_shows_the_items_the_api_returns_for_that_user(
        shop: Shop, signed_in: Watched) -> None:
    expected = api_items(shop, "u1")
    page = signed_in.page
    page.goto("/console/users")
    wait_loaded(signed_in)
    page.fill("#user-id", "u1")
    page.click("#look-up")
    rows = page.locator("#recs-product tbody tr")
    expect(rows).to_have_count(len(expected))
    shown = [row.locator("td").nth(1).inner_text() for row in rows.all()]
    assert shown == expected
    titles = [row.locator("td").nth(2).inner_text() for row in rows.all()]
    assert titles == [f"title of {item}" for item in expected]
    assert signed_in.errors == []


def test_marking_an_item_unavailable_removes_it_from_the_next_api_response(
        shop: Shop, signed_in: Watched) -> None:
    first = api_items(shop, "u0")[0]
    page = signed_in.page
    page.goto("/console/items")
    wait_loaded(signed_in)
    page.fill("#item-q", first)
    page.click("#item-search")
    toggle = page.locator(f'button[data-toggle="{first}"]')
    expect(toggle).to_have_text("Mark unavailable")
    toggle.click()
    expect(page.locator(f'button[data-toggle="{first}"]')).to_have_text("Mark available")
    assert first not in api_items(shop, "u0")
    page.locator(f'button[data-toggle="{first}"]').click()
    expect(page.locator(f'button[data-toggle="{first}"]')).to_have_text("Mark unavailable")
    assert api_items(shop, "u0")[0] == first
    assert signed_in.errors == [] and signed_in.outside == []


def test_the_language_switch_changes_the_labels(signed_in: Watched) -> None:
    page = signed_in.page
    nav = page.locator('header a[data-nav="overview"]')
    expect(nav).to_have_text("Overview")
    page.click('a[data-lang="zh-CN"]')
    expect(nav).to_have_text("概览")
    wait_loaded(signed_in)
    expect(page.locator("#sign-out")).to_have_text("退出登录")
    page.goto("/console/monitoring")  # the choice is remembered
    expect(page.locator('header a[data-nav="monitoring"]')).to_have_text("数据监控")
    page.click('a[data-lang="en"]')
    expect(page.locator('header a[data-nav="monitoring"]')).to_have_text("Monitoring")
    assert signed_in.errors == []


def test_accept_language_chooses_chinese(browser: Browser, shop: Shop) -> None:
    view = watch(browser, shop.base, locale="zh-CN",
                 extra_http_headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    try:
        view.page.goto("/console/login")
        expect(view.page.locator("#sign-in")).to_have_text("登录")
    finally:
        view.page.context.close()


def test_monitoring_shows_the_events_just_sent(shop: Shop, signed_in: Watched) -> None:
    now = datetime.now(UTC).isoformat()
    batch = [{"user_id": "mon-1", "item_id": "p2", "event": "view", "timestamp": now},
             {"user_id": "mon-1", "item_id": "p2", "event": "cart", "timestamp": now},
             {"user_id": "mon-2", "item_id": "p3", "event": "view", "timestamp": now}]
    before = shop.api.get("/v1/admin/monitoring", params={"days": 1},
                          headers={"X-API-Key": ADMIN_KEY}).json()["days"][-1]
    assert shop.api.post("/v1/events", json={"events": batch}).status_code == 202
    page = signed_in.page
    page.goto("/console/monitoring")
    wait_loaded(signed_in)
    views = before["events"].get("view", 0) + 2
    expect(page.locator("#today-events")).to_contain_text(f"view{views}")
    page.goto("/console/overview")
    wait_loaded(signed_in)
    assert signed_in.errors == []


def test_docs_render_with_no_network(watched: Watched) -> None:
    page = watched.page
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("recsys")
    expect(page.locator(".opblock-tag-section").first).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert watched.outside == []
    assert watched.errors == []


def test_rolling_back_needs_a_confirmation(shop: Shop, signed_in: Watched) -> None:
    world.publish(shop.redis, shop.prefix, version="2")
    page = signed_in.page
    try:
        page.goto("/console/deploy")
        wait_loaded(signed_in)
        page.click('button[data-make-live="1"]')
        expect(page.locator("#confirm")).to_be_visible()
        assert shop.api.get("/readyz").json()["model"]["version"] == "2"
        page.click("#confirm-live")
        expect(page.locator("#deploy-message")).to_contain_text("Done.")
        assert shop.api.get("/readyz").json()["model"]["version"] == "1"
        assert signed_in.errors == []
    finally:
        world.publish(shop.redis, shop.prefix, version="1")
