"""Browser tests of the console: Debian's Chromium driven by Playwright against a real server
(uvicorn on a free port) over the real Redis, with the test shop published.

One server for the whole session and one browser per module (they take seconds to start); each
test gets a fresh browser context (no cookies) whose every request is checked: one that does not
go to the test server is aborted and recorded, and console errors are collected.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

from tests.conftest import TEST_DB, delete_prefix
from tests.console.server import ADMIN_KEY, API_KEY, Server
from tests.serving import world

CHROMIUM = os.environ.get("RECSYS_TEST_CHROMIUM", "/usr/bin/chromium")


@dataclass
class Shop:
    """The running server, its Redis and an API client of it."""

    server: Server
    redis: redis.Redis
    prefix: str
    api: httpx.Client

    @property
    def base(self) -> str:
        return self.server.base


@pytest.fixture(scope="session")
def shop(redis_server: str) -> Iterator[Shop]:
    client = redis.Redis.from_url(f"{redis_server}/{TEST_DB}")
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    world.publish(client, prefix)
    server = Server(f"{redis_server}/{TEST_DB}", prefix)
    server.start()
    try:
        with httpx.Client(base_url=server.base, headers={"X-API-Key": API_KEY},
                          timeout=10) as api:
            yield Shop(server, client, prefix, api)
    finally:
        server.stop()
        delete_prefix(client, prefix)
        client.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for one test module: Playwright's sync API runs an event loop in this thread
    while it is open, which the async tests of other modules need to themselves."""
    executable = shutil.which(CHROMIUM) or CHROMIUM
    assert os.path.exists(executable), f"Chromium not found at {CHROMIUM} (make test installs it)"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True,
                                              args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@dataclass
class Watched:
    """A page, the requests it tried to send elsewhere and the console errors it logged."""

    page: Page
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def watch(browser: Browser, base: str, **context: Any) -> Watched:
    page = browser.new_context(base_url=base, **context).new_page()
    watched = Watched(page)

    def route(route: Route) -> None:
        if route.request.url.startswith(base + "/") or route.request.url.startswith("data:"):
            route.continue_()
        else:
            watched.outside.append(route.request.url)
            route.abort()

    def console(message: ConsoleMessage) -> None:
        if message.type == "error":
            watched.errors.append(message.text)

    page.route("**/*", route)
    page.on("console", console)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    return watched


@pytest.fixture
def watched(browser: Browser, shop: Shop) -> Iterator[Watched]:
    """A fresh context (no session) on the test server, English."""
    view = watch(browser, shop.base, locale="en-US", extra_http_headers={
        "Accept-Language": "en-US,en;q=0.9"})
    yield view
    view.page.context.close()


def sign_in(view: Watched, key: str = ADMIN_KEY) -> None:
    view.page.goto("/console/login")
    view.page.fill("#key", key)
    view.page.click("#sign-in")


@pytest.fixture
def signed_in(watched: Watched) -> Watched:
    sign_in(watched)
    watched.page.wait_for_url("**/console/overview")
    return watched
