"""Draw the console's screenshots for the README: ``python -m tests.console.screenshots``.

Publishes the test shop (two versions) under a prefix of its own on the local Redis, sends two
weeks of seeded events from a few hundred users, runs an A/B experiment with attributed clicks
and purchases, then saves each page (English, and the overview in Chinese) to
``docs/screenshots/``. The keys are deleted afterwards.
"""

from __future__ import annotations

import random
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import redis
from playwright.sync_api import sync_playwright

from tests.conftest import LOCAL_SERVER, TEST_DB, delete_prefix
from tests.console.server import ADMIN_KEY, API_KEY, Server
from tests.serving import world

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ITEMS = ["p0", "p1", "p2", "p3", "p4", "c0", "c1", "pnew"]


def history(seed: int = 7, users: int = 300, days: int = 14) -> list[dict[str, object]]:
    """Seeded events: users arrive over the days, come back with falling odds, and move
    down the view -> cart -> purchase funnel, more at breakfast time."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start = now - timedelta(days=days - 1)
    events: list[dict[str, object]] = []
    for n in range(users):
        first = rng.randrange(days)
        for day in range(first, days):
            if day > first and rng.random() > 0.45:
                continue
            hour = rng.choice([23, 0, 0, 1, 4, 5, 10, 11, 12])  # UTC: 07:00-20:00 in Shanghai
            moment = (start + timedelta(days=day)).replace(hour=hour, minute=rng.randrange(60))
            if moment > now:
                continue
            item = rng.choice(ITEMS)
            events.append({"user_id": f"shopper-{n}", "item_id": item, "event": "view",
                           "timestamp": moment.isoformat()})
            if rng.random() < 0.35:
                events.append({"user_id": f"shopper-{n}", "item_id": item, "event": "cart",
                               "timestamp": (moment + timedelta(minutes=2)).isoformat()})
                if rng.random() < 0.5:
                    events.append({"user_id": f"shopper-{n}", "item_id": item,
                                   "event": "purchase",
                                   "timestamp": (moment + timedelta(minutes=5)).isoformat()})
    return events


def experiment(api: httpx.Client, admin: dict[str, str]) -> None:
    """A running experiment between versions 1 and 2 with attributed clicks and purchases."""
    response = api.post("/v1/admin/experiments", headers=admin, json={
        "name": "v2-vs-v1", "kinds": ["product"],
        "variants": [{"name": "control", "model": "shop", "version": "1"},
                     {"name": "treatment", "model": "shop", "version": "2"}]})
    response.raise_for_status()
    rng = random.Random(3)
    now = datetime.now(UTC).isoformat()
    for n in range(120):
        user = f"shopper-{n}"
        recs = api.get(f"/v1/users/{user}/recommendations", params={"n": 5}).json()
        for item in recs["items"][:2]:
            if rng.random() < (0.3 if recs["variant"] == "treatment" else 0.2):
                for kind in ("click", "purchase")[: 1 + (rng.random() < 0.4)]:
                    api.post("/v1/events", json=[{
                        "user_id": user, "item_id": item["item_id"], "event": kind,
                        "timestamp": now, "rec_id": recs["rec_id"]}]).raise_for_status()


def main(out: Path = OUT) -> None:
    client = redis.Redis.from_url(f"{LOCAL_SERVER}/{TEST_DB}")
    prefix = f"shots:{uuid.uuid4().hex[:8]}:"
    world.publish(client, prefix, version="2", make_live=False,
                  metrics={"ndcg@10": 0.334, "precision@10": 0.087, "recall@10": 0.262})
    world.publish(client, prefix, version="1",
                  metrics={"ndcg@10": 0.312, "precision@10": 0.081, "recall@10": 0.245})
    server = Server(f"{LOCAL_SERVER}/{TEST_DB}", prefix)
    server.start()
    out.mkdir(parents=True, exist_ok=True)
    admin = {"X-API-Key": ADMIN_KEY}
    try:
        with httpx.Client(base_url=server.base, headers={"X-API-Key": API_KEY},
                          timeout=30) as api:
            events = history()
            for start in range(0, len(events), 1000):
                api.post("/v1/events", json=events[start:start + 1000]).raise_for_status()
            experiment(api, admin)
            api.post("/v1/users/u1/push", json={"items": ["p2"]})
            now = datetime.now(UTC)
            api.post("/v1/events", json=[
                {"user_id": "u1", "item_id": item, "event": kind,
                 "timestamp": (now - timedelta(minutes=30 - i)).isoformat()}
                for i, (item, kind) in enumerate([("p2", "view"), ("p3", "view"),
                                                  ("p3", "cart"), ("c1", "view")])
            ]).raise_for_status()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                                 args=["--no-sandbox"])
            page = browser.new_context(base_url=server.base, viewport={"width": 1280,
                                                                       "height": 900},
                                       locale="en-US").new_page()
            page.goto("/console/login")
            page.screenshot(path=str(out / "login.png"))
            page.fill("#key", ADMIN_KEY)
            page.click("#sign-in")
            page.wait_for_url("**/console/overview")
            shots = [("overview", ""), ("monitoring", ""), ("users", "?user=u1"),
                     ("items", ""), ("experiments", ""), ("deploy", ""),
                     ("overview", "?lang=zh-CN")]
            for name, query in shots:
                page.goto(f"/console/{name}{query}")
                page.wait_for_selector("#content:not([aria-busy])")
                page.wait_for_load_state("networkidle")
                if name == "items":  # with the neighbours of one item
                    page.click('a[data-item="p0"]')
                    page.wait_for_selector("#similar")
                page.wait_for_timeout(300)
                suffix = "-zh" if "zh" in query else ""
                page.screenshot(path=str(out / f"{name}{suffix}.png"), full_page=True)
            browser.close()
    finally:
        server.stop()
        delete_prefix(client, prefix)
    print(f"screenshots in {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
