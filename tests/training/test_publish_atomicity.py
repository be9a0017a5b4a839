"""A publish is all or nothing for readers: during one, the API answers from the old version or
the new one, never a mix; a publish killed half-way changes nothing that is live."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from scipy import sparse

from recommender.matrix import IdMap, Interactions
from storage.keys import Keys
from tests.serving import world
from tests.serving.conftest import client_for, make_app

N_USERS, N_ITEMS = 3000, 40
SET_A, SET_B = set(range(0, 20)), set(range(20, 40))
ROOT = Path(__file__).resolve().parents[2]


def _model(favoured: set[int], seed: int) -> world.FixedScores:
    """Scores only the ``favoured`` items (the others are never candidates)."""
    rng = np.random.default_rng(seed)
    scores = np.full((N_USERS, N_ITEMS), -np.inf, dtype=np.float32)
    cols = sorted(favoured)
    scores[:, cols] = rng.random((N_USERS, len(cols)), dtype=np.float32)
    return world.FixedScores(scores=scores, similarity=np.eye(N_ITEMS, dtype=np.float32))


def _shop() -> tuple[Interactions, pd.DataFrame]:
    users = IdMap.from_ids([f"user{i}" for i in range(N_USERS)])
    items = IdMap.from_ids([f"i{j}" for j in range(N_ITEMS)])
    train = Interactions(sparse.csr_matrix((N_USERS, N_ITEMS), dtype=np.float32), users, items)
    catalog = pd.DataFrame({"item_id": items.ids, "kind": "product", "category": "lunch"})
    return train, catalog


@pytest.mark.anyio
async def test_readers_polling_during_a_publish_see_one_version_at_a_time(
    redis_url: str, redis_client: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    train, catalog = _shop()
    world.publish(redis_client, prefix, version="1", model=_model(SET_A, 1), train=train,
                  catalog=catalog)
    monkeypatch.setattr("storage.writer.FLUSH_BYTES", 20_000)  # many small blocks
    app = make_app(redis_url, prefix)
    seen: list[tuple[str, set[int]]] = []
    rng = np.random.default_rng(0)
    async with await client_for(app) as client:
        publishing = asyncio.create_task(asyncio.to_thread(
            world.publish, redis_client, prefix, version="2", model=_model(SET_B, 2),
            train=train, catalog=catalog, batch_users=100,
        ))
        while not publishing.done() or len(seen) < 5 or seen[-1][0] != "2":
            user = f"user{rng.integers(N_USERS)}"
            body = (await client.get(f"/v1/users/{user}/recommendations",
                                     params={"n": 10})).json()
            seen.append((body["model"]["version"],
                         {int(item["item_id"][1:]) for item in body["items"]}))
        await publishing
    await app.state.store.close()
    versions = [version for version, _ in seen]
    assert versions[0] == "1" and versions[-1] == "2"
    assert versions == sorted(versions), "once the new version is seen, the old one never is"
    for version, items in seen:
        assert len(items) == 10
        assert items <= (SET_A if version == "1" else SET_B), f"mixed answer: {version} {items}"


_SLOW_PUBLISH = """
import sys, time
import storage.writer
from storage.connect import connect
from tests.serving import world
from tests.training.test_publish_atomicity import _model, _shop, SET_B

storage.writer.FLUSH_BYTES = 2000  # write as it goes, so there is something to kill

class Slow(type(_model(SET_B, 2))):
    def _user_scores(self, userids, user_items):
        time.sleep(0.05)
        return super()._user_scores(userids, user_items)

fast = _model(SET_B, 2)
slow = Slow(scores=fast.scores, similarity=fast.similarity)
train, catalog = _shop()
world.publish(connect(sys.argv[1]), sys.argv[2], version="2", model=slow,
              train=train, catalog=catalog, batch_users=50, pending_seconds=900)
"""


def test_a_publish_killed_half_way_leaves_live_untouched_and_its_keys_expiring(
    redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    train, catalog = _shop()
    live = world.publish(redis_client, prefix, version="1", model=_model(SET_A, 1), train=train,
                         catalog=catalog)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    child = subprocess.Popen([sys.executable, "-c", _SLOW_PUBLISH, redis_url, prefix], cwd=ROOT,
                             env=env)
    try:
        deadline = time.monotonic() + 60
        while not list(redis_client.scan_iter(match=f"{prefix}v:{{shop:2:*}}:rec:*")):
            assert child.poll() is None, "the publish ended before it could be killed"
            assert time.monotonic() < deadline, "the publish wrote nothing"
            time.sleep(0.02)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert redis_client.hgetall(Keys(prefix).live()) == {b"shop": live.namespace.encode()}
    partial = list(redis_client.scan_iter(match=f"{prefix}v:{{shop:2:*"))
    assert partial and all(0 < redis_client.ttl(key) <= 900 for key in partial)
