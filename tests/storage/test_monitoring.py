"""Live monitoring counters (``storage.monitoring``) on the real Redis, one node and a cluster,
on a small history whose right answers are known."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from storage import monitoring
from storage.monitoring import Observed
from storage.reader import Store

ZONE = ZoneInfo("Asia/Shanghai")
DAY1 = datetime.now(ZONE).date() - timedelta(days=10)
"""Relative to today: a day's keys expire for real, ``RETENTION_DAYS`` after it."""


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def breakfast(moment: datetime) -> str | None:
    local = moment.astimezone(ZONE)
    return "breakfast" if (6, 30) <= (local.hour, local.minute) < (9, 30) else None


HISTORY = [
    Observed("u1", "view", at(DAY1, 7, 40)),
    Observed("u1", "cart", at(DAY1, 7, 45)),
    Observed("u2", "view", at(DAY1, 20, 0)),
    Observed("u1", "view", at(DAY1 + timedelta(days=1), 12, 0)),
    Observed("u3", "purchase", at(DAY1 + timedelta(days=1), 12, 5)),
    Observed("u2", "view", at(DAY1 + timedelta(days=7), 8, 0)),
]
NOW = at(DAY1 + timedelta(days=8), 9, 0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["node", "cluster"])
async def store(request: pytest.FixtureRequest, prefix: str) -> AsyncIterator[Store]:
    if request.param == "cluster":
        url = request.getfixturevalue("redis_cluster").url
        request.getfixturevalue("cluster_client")  # flushes the cluster afterwards
    else:
        url = f"{request.getfixturevalue('redis_server')}/11"
    connected = Store.connect(url, prefix)
    yield connected
    await connected.close()


@pytest.mark.anyio
async def test_days_count_users_events_hours_and_slots(store: Store) -> None:
    await monitoring.record_events(store, HISTORY, ZONE, breakfast, NOW)
    first, second = await monitoring.read_days(
        store, [DAY1.isoformat(), (DAY1 + timedelta(days=1)).isoformat()])
    assert (first.active_users, first.new_users, first.returning_users) == (2, 2, 0)
    assert first.events == {"view": 2, "cart": 1}
    assert first.funnel_users == {"view": 2, "cart": 1, "purchase": 0}
    assert first.by_hour["view"][7] == 1 and first.by_hour["view"][20] == 1
    assert first.by_slot == {"breakfast": {"view": 1, "cart": 1}}
    assert (second.active_users, second.new_users, second.returning_users) == (2, 1, 1)
    assert second.events == {"view": 1, "purchase": 1}


@pytest.mark.anyio
async def test_cohorts_count_who_came_back_a_day_and_a_week_later(store: Store) -> None:
    await monitoring.record_events(store, HISTORY, ZONE, breakfast, NOW)
    days = [(DAY1 + timedelta(days=i)).isoformat() for i in range(3)]
    cohorts = await monitoring.read_cohorts(store, days, DAY1 + timedelta(days=8))
    assert [(c.users, c.day1, c.day7) for c in cohorts] == [(2, 1, 1), (1, 0, 0), (0, 0, None)]


@pytest.mark.anyio
async def test_a_user_seen_before_is_not_new_again(store: Store) -> None:
    await monitoring.record_events(store, HISTORY[:1], ZONE, breakfast, NOW)
    await monitoring.record_events(store, HISTORY[3:4], ZONE, breakfast, NOW)
    (later,) = await monitoring.read_days(store, [(DAY1 + timedelta(days=1)).isoformat()])
    assert (later.active_users, later.new_users) == (1, 0)


@pytest.mark.anyio
async def test_every_key_expires_and_old_events_count_only_in_their_minute(
        store: Store, prefix: str) -> None:
    now = datetime.now(UTC)
    old = Observed("u9", "view", now - timedelta(days=monitoring.RETENTION_DAYS + 2))
    await monitoring.record_events(store, [*HISTORY, old], ZONE, breakfast, now)
    names = [key async for key in store.client.scan_iter(match=f"{prefix}*")]
    assert names
    for name in names:
        assert await store.client.ttl(name) > 0, name
    assert not any(b"u9" in name for name in names)
    ((_, counts),) = await monitoring.read_minutes(store, now, 1)
    assert counts == {"view": 5, "cart": 1, "purchase": 1}


@pytest.mark.anyio
async def test_pushes_are_counted_per_day_and_slot(store: Store) -> None:
    day = DAY1.isoformat()
    await monitoring.record_push(store, day, "breakfast", ZONE)
    await monitoring.record_push(store, day, None, ZONE)
    (stats,) = await monitoring.read_days(store, [day])
    assert (stats.pushes, stats.pushes_by_slot) == (2, {"breakfast": 1})


def test_a_day_expires_retention_days_after_it_ends() -> None:
    expires = datetime.fromtimestamp(monitoring.expires_at(DAY1, ZONE), UTC)
    assert expires == at(DAY1 + timedelta(days=monitoring.RETENTION_DAYS + 1), 0)


def test_last_days_are_capped() -> None:
    assert monitoring.last_days(date(2026, 11, 20), 2) == ["2026-11-19", "2026-11-20"]
    assert len(monitoring.last_days(DAY1, 10_000)) == monitoring.MAX_DAYS
