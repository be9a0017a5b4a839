"""``event_id`` de-duplication is exactly-once within its window, in bounded memory: the ids live
in ``DEDUPE_SHARDS`` sorted sets that keep their newest ``DEDUPE_PER_SHARD`` ids of the last
``DEDUPE_SECONDS``, never one key per id."""

from __future__ import annotations

import time
from itertools import count
from typing import Any

import httpx
import pytest
import redis

import storage.events
from storage.keys import DEDUPE_SHARDS, Keys

pytestmark = pytest.mark.anyio

URL = "/v1/events"
PER_SHARD = 8


def event(event_id: str) -> dict[str, Any]:
    return {"user_id": "u0", "item_id": "p2", "event": "view",
            "timestamp": "2026-11-21T07:35:00+08:00", "event_id": event_id}


def ids_in_shard_of(keys: Keys, first: str, how_many: int) -> list[str]:
    """``first`` and more ids whose de-duplication shard is the same as ``first``'s."""
    shard = keys.event_seen(first)
    same = (f"id-{n}" for n in count() if keys.event_seen(f"id-{n}") == shard)
    return [first, *(next(same) for _ in range(how_many - 1))]


@pytest.fixture
def small_shards(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(storage.events, "DEDUPE_PER_SHARD", PER_SHARD)
    return PER_SHARD


async def test_remembered_ids_stay_bounded_whatever_the_traffic(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str, small_shards: int
) -> None:
    for batch in range(3):
        response = await api.post(URL, json=[event(f"b{batch}-{i}") for i in range(1000)])
        assert response.json() == {"accepted": 1000, "duplicates": 0}
    keys = Keys(prefix)
    shards = {keys.event_seen(f"b{batch}-{i}") for batch in range(3) for i in range(1000)}
    assert len(shards) == DEDUPE_SHARDS
    sizes = [redis_client.zcard(shard) for shard in shards]
    assert max(sizes) == small_shards
    assert sum(sizes) <= DEDUPE_SHARDS * small_shards
    assert not list(redis_client.scan_iter(match=f"{prefix}{{events}}:id:*"))
    assert all(0 < redis_client.ttl(shard) <= storage.events.DEDUPE_SECONDS for shard in shards)


async def test_a_retry_within_the_window_is_a_duplicate_and_a_forgotten_id_is_new(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str, small_shards: int
) -> None:
    keys = Keys(prefix)
    oldest, *newer = ids_in_shard_of(keys, "e-1", small_shards + 1)
    assert (await api.post(URL, json=[event(oldest)])).json()["accepted"] == 1
    retried = await api.post(URL, json=[event(oldest)])
    assert retried.json() == {"accepted": 0, "duplicates": 1}
    assert (await api.post(URL, json=[event(i) for i in newer])).json()["accepted"] == len(newer)
    again = await api.post(URL, json=[event(i) for i in newer])
    assert again.json() == {"accepted": 0, "duplicates": len(newer)}
    # PER_SHARD newer ids fell into its shard: the oldest one is forgotten, stored again
    forgotten = await api.post(URL, json=[event(oldest)])
    assert forgotten.json() == {"accepted": 1, "duplicates": 0}


async def test_an_id_older_than_the_window_is_new_again(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    assert (await api.post(URL, json=[event("late")])).json()["accepted"] == 1
    shard = Keys(prefix).event_seen("late")
    long_ago = time.time() - storage.events.DEDUPE_SECONDS - 60
    redis_client.zadd(shard, {"late": long_ago}, xx=True)
    response = await api.post(URL, json=[event("late"), event("late")])
    assert response.json() == {"accepted": 1, "duplicates": 1}
    assert redis_client.zscore(shard, "late") > long_ago
