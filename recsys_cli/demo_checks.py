"""The sample requests of ``recsys demo``: printed as curl commands, or made and checked."""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx

SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class DemoUsers:
    """Breakfast regulars (most breakfast purchases first) and the breakfast items."""

    regulars: list[str]
    breakfast_items: set[str]
    favourite_item: str


def pick_demo_user(events_path: Path, catalog_path: Path) -> DemoUsers:
    from recommender.data import load_catalog, load_events

    events = load_events(events_path).frame
    catalog = load_catalog(catalog_path).frame
    breakfast = set(catalog.loc[catalog["category"] == "breakfast", "item_id"])
    bought = events[(events["event"] == "purchase") & events["item_id"].isin(breakfast)]
    counts = bought.groupby("user_id").size().sort_values(ascending=False, kind="stable")
    favourite = bought["item_id"].value_counts().index[0]
    return DemoUsers(list(counts.index[:20]), breakfast, str(favourite))


def breakfast_time(now: datetime | None = None) -> str:
    """The next 07:30 in Shanghai (today's if it is still to come): at most a day ahead."""
    now = (now or datetime.now(SHANGHAI)).astimezone(SHANGHAI)
    at = now.replace(hour=7, minute=30, second=0, microsecond=0)
    return (at if at > now else at + timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class DemoRequests:
    base: str
    api_key: str
    users: DemoUsers
    at: str

    @classmethod
    def build(cls, base: str, api_key: str, users: DemoUsers) -> DemoRequests:
        return cls(base, api_key, users, breakfast_time())

    @property
    def user(self) -> str:
        return self.users.regulars[0]

    def _curl(self, path: str, method: str = "GET", body: object | None = None) -> str:
        parts = ["curl", "-s"]
        if method != "GET":
            parts += ["-X", method, "-H", "Content-Type: application/json", "-d", json.dumps(body)]
        parts += ["-H", f"X-API-Key: {self.api_key}", f"{self.base}{path}"]
        return shlex.join(parts)

    def purchase_event(self, item_id: str) -> dict[str, object]:
        return {
            "events": [
                {
                    "user_id": self.user,
                    "item_id": item_id,
                    "event": "purchase",
                    "timestamp": datetime.now(SHANGHAI).isoformat(timespec="seconds"),
                }
            ]
        }

    def curl_lines(self) -> list[str]:
        at = httpx.QueryParams({"at": self.at})
        return [
            "# breakfast-time recommendations for a breakfast regular",
            self._curl(f"/v1/users/{self.user}/recommendations?kind=product&n=5&{at}"),
            "# items similar to the favourite breakfast item",
            self._curl(f"/v1/items/{self.users.favourite_item}/similar?n=5"),
            "# should this user get a push now?",
            self._curl(f"/v1/users/{self.user}/push?{at}"),
            "# a purchase event (the item is excluded from this user's lists at once)",
            self._curl("/v1/events", "POST", self.purchase_event(self.users.favourite_item)),
        ]


def _wait_ready(client: httpx.Client, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    return False


def _show(name: str, response: httpx.Response, ok: bool, why: str) -> bool:
    mark = "ok  " if ok else "FAIL"
    print(f"[{mark}] {name}: HTTP {response.status_code} {why}")
    body = response.text[:600]
    if body:
        print(f"       {body}")
    return ok


def run_checks(requests: DemoRequests, wait_seconds: float = 60.0) -> bool:
    """Make each sample request against the running server; True if every answer is right."""
    headers = {"X-API-Key": requests.api_key}
    with httpx.Client(base_url=requests.base, headers=headers, timeout=10.0) as client:
        if not _wait_ready(client, wait_seconds):
            print(f"[FAIL] the server at {requests.base} was not ready within {wait_seconds:.0f} s")
            return False
        breakfast = requests.users.breakfast_items
        user, at = requests.user, requests.at
        results = []

        recs = client.get(
            f"/v1/users/{user}/recommendations", params={"kind": "product", "n": 5, "at": at}
        )
        body = recs.json() if recs.status_code == 200 else {}
        ids = [item["item_id"] for item in body.get("items", [])]
        share = sum(i in breakfast for i in ids) / max(len(ids), 1)
        results.append(
            _show(
                "breakfast-time recommendations",
                recs,
                recs.status_code == 200
                and body.get("slot") == "breakfast"
                and not body.get("fallback")
                and len(ids) == 5
                and share >= 0.6,
                f"(slot={body.get('slot')}, {share:.0%} breakfast items)",
            )
        )

        item = requests.users.favourite_item
        similar = client.get(f"/v1/items/{item}/similar", params={"n": 5})
        similar_ids = (
            [i["item_id"] for i in similar.json().get("items", [])] if similar.is_success else []
        )
        results.append(
            _show(
                "similar items",
                similar,
                similar.status_code == 200 and len(similar_ids) == 5 and item not in similar_ids,
                f"(of {item})",
            )
        )

        unknown = client.get("/v1/users/nobody-at-all/recommendations", params={"at": at})
        results.append(
            _show(
                "unknown user falls back to popular",
                unknown,
                unknown.status_code == 200 and unknown.json().get("fallback") is True,
                "",
            )
        )

        pushed = None
        for candidate in requests.users.regulars:
            push = client.get(f"/v1/users/{candidate}/push", params={"at": at})
            if push.status_code == 200:
                pushed = push
                break
            if push.status_code != 204:
                break
        if pushed is None:
            results.append(
                _show(
                    "push at 07:30 for a breakfast regular",
                    push,
                    False,
                    "(no regular was due a push)",
                )
            )
        else:
            push_ids = [i["item_id"] for i in pushed.json().get("items", [])]
            results.append(
                _show(
                    "push at 07:30 for a breakfast regular",
                    pushed,
                    pushed.json().get("slot") == "breakfast"
                    and bool(push_ids)
                    and all(i in breakfast for i in push_ids),
                    "",
                )
            )

        target = ids[0] if ids else item
        event = client.post("/v1/events", json=requests.purchase_event(target))
        after = client.get(
            f"/v1/users/{user}/recommendations", params={"kind": "product", "n": 20, "at": at}
        )
        after_ids = (
            [i["item_id"] for i in after.json().get("items", [])] if after.is_success else []
        )
        results.append(
            _show(
                "purchase event, then the item is excluded",
                event,
                event.status_code == 202 and after.status_code == 200 and target not in after_ids,
                f"({target} gone from the next list)",
            )
        )
        return all(results)
