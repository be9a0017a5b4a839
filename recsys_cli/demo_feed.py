"""``recsys demo``'s event feed: the last days of the synthetic history sent to the running API
through ``POST /v1/events``, moved forward in time so that they end now, so the console's live
monitoring (``/console/monitoring``) has something to show."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

FEED_DAYS = 8
"""Days of history sent (enough for D1 and D7 retention)."""
MAX_EVENTS = 50_000
BATCH = 1000


def wait_ready(client: httpx.Client, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if client.get("/readyz").status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    return False


def feed_events(base: str, api_key: str, events_path: Path, now: datetime | None = None,
                wait_seconds: float = 60.0) -> int:
    """Send the last ``FEED_DAYS`` days of ``events_path`` (at most ``MAX_EVENTS``), shifted
    to end at ``now``, with event ids (a second run is not counted twice); events sent."""
    from recommender.data import load_events

    frame = load_events(events_path).frame
    stamps = frame["timestamp"]
    shift = (now or datetime.now(UTC)) - stamps.max().to_pydatetime()
    recent = frame[stamps >= stamps.max() - timedelta(days=FEED_DAYS)].tail(MAX_EVENTS)
    sent = 0
    with httpx.Client(base_url=base, headers={"X-API-Key": api_key}, timeout=30.0) as client:
        if not wait_ready(client, wait_seconds):
            return 0
        rows = list(recent.itertuples(index=False))
        for start in range(0, len(rows), BATCH):
            batch = [{"user_id": str(row.user_id), "item_id": str(row.item_id),
                      "event": str(row.event),
                      "timestamp": (row.timestamp.to_pydatetime() + shift).isoformat(),
                      "event_id": f"demo-feed-{start + i}"}
                     for i, row in enumerate(rows[start:start + BATCH])]
            response = client.post("/v1/events", json={"events": batch})
            if response.status_code != 202:
                break
            sent += len(batch)
    return sent


def check_console(base: str, api_key: str, admin_key: str, events_path: Path,
                  model: str) -> bool:
    """Send the feed, then check what the console shows: ``model`` live with its offline
    metrics, and today's events in the live monitoring. Prints one line per check."""
    sent = feed_events(base, api_key, events_path)
    headers = {"X-API-Key": admin_key}
    with httpx.Client(base_url=base, headers=headers, timeout=30.0) as client:
        overview = client.get("/v1/admin/overview")
        models = overview.json().get("models", []) if overview.status_code == 200 else []
        live = next((m["live"] for m in models if m["name"] == model and m["live"]), None)
        shown = live is not None and bool(live["metrics"])
        print(f"[{'ok  ' if shown else 'FAIL'}] console overview: {model} version "
              f"{live['version'] if live else '?'} live, metrics "
              f"{', '.join(sorted(live['metrics'])) if live else 'missing'}")
        monitoring = client.get("/v1/admin/monitoring", params={"days": 1})
        today = monitoring.json()["days"][-1] if monitoring.status_code == 200 else {}
        counted = sum(today.get("events", {}).values())
        print(f"[{'ok  ' if sent and counted else 'FAIL'}] console monitoring: {sent} events "
              f"sent, {counted} counted today, {today.get('active_users', 0)} active users")
    return shown and bool(sent and counted)
