"""Simulated A/B traffic through the real API and events route (Redis db 15).

Synthetic users ask ``GET /v1/users/{id}/recommendations?n=1``; a user then clicks the item
shown with probability ``p`` of their variant, sending ``POST /v1/events`` with the ``rec_id``
(batched). The report comes from ``GET /v1/admin/experiments/{name}/report``, built from the
counts in Redis. With a real uplift (10% vs 13%) it finds the treatment better with p < 0.05;
with equal rates (A/A) it finds no significant difference in at least 18 of 20 seeded runs.
Both variants serve one tiny published version (the click model is what differs), so a run costs
little more than its HTTP requests.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from fastapi import FastAPI

from storage.connect import connect
from storage.experiments import ExperimentRecord, VariantRecord, open_experiment, stop_experiment
from storage.keys import Keys
from tests.conftest import delete_prefix
from tests.serving import world
from tests.serving.conftest import client_for, make_app
from training.publish import RETAIN_SECONDS

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

AB_DB = 15
ADMIN_KEY = "sim-admin"
CONCURRENCY = 32  # below the app's 64 Redis connections
ALPHA = 0.05


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Lab:
    """The published shop, the app over it, and what the experiments need."""

    client: redis.Redis
    keys: Keys
    namespace: str
    app: FastAPI


@dataclass(frozen=True)
class Outcome:
    """What one simulated experiment sent, and the report the API gave."""

    requests: Counter[str]
    clicks: Counter[str]
    report: dict[str, Any]

    def vs_control(self) -> dict[str, Any]:
        return self.report["variants"][1]["vs_control"]["ctr"]  # type: ignore[no-any-return]


@pytest.fixture
async def lab(redis_url_for: Callable[[int], str]) -> AsyncIterator[Lab]:
    url, prefix = redis_url_for(AB_DB), f"test:sim:{uuid.uuid4().hex[:12]}:"
    client = connect(url)
    namespace = world.publish(client, prefix).namespace
    app = make_app(url, prefix, admin_keys=ADMIN_KEY)
    try:
        yield Lab(client, Keys(prefix), namespace, app)
    finally:
        await app.state.store.close()
        delete_prefix(client, prefix)
        client.close()


@pytest.fixture
def users() -> Iterator[list[str]]:
    yield [f"sim-{i}" for i in range(12_000)]


async def simulate(lab: Lab, name: str, users: list[str], p_click: dict[str, float],
                   seed: int) -> Outcome:
    """Run experiment ``name`` (control/treatment, 50/50) over ``users``; stop it; report."""
    variants = tuple(VariantRecord(variant, 50, "shop@champion", "shop", "1", lab.namespace)
                     for variant in ("control", "treatment"))
    open_experiment(lab.client, lab.keys, ExperimentRecord(
        name, "running", "control", ("product",), variants, datetime.now(UTC)))
    rng = random.Random(seed)
    requests: Counter[str] = Counter()
    clicks: Counter[str] = Counter()
    events: list[dict[str, Any]] = []
    async with await client_for(lab.app) as api:
        for start in range(0, len(users), CONCURRENCY):
            responses = await asyncio.gather(*(
                api.get(f"/v1/users/{user}/recommendations", params={"n": 1})
                for user in users[start : start + CONCURRENCY]))
            for response in responses:
                body = response.json()
                assert response.status_code == 200, body
                requests[body["variant"]] += 1
                if rng.random() < p_click[body["variant"]]:
                    clicks[body["variant"]] += 1
                    events.append({"user_id": body["user_id"], "event": "click",
                                   "item_id": body["items"][0]["item_id"],
                                   "rec_id": body["rec_id"], "timestamp": time.time()})
        for start in range(0, len(events), 1000):
            posted = await api.post("/v1/events", json=events[start : start + 1000])
            assert posted.status_code == 202
    async with await client_for(lab.app, ADMIN_KEY) as admin:
        report = await admin.get(f"/v1/admin/experiments/{name}/report",
                                 params={"metric": "ctr"})
    stop_experiment(lab.client, lab.keys, name, retain_seconds=RETAIN_SECONDS)
    assert report.status_code == 200
    return Outcome(requests, clicks, report.json())


async def test_a_real_uplift_is_found_significant(lab: Lab, users: list[str]) -> None:
    outcome = await simulate(lab, "sim-ab", users, {"control": 0.10, "treatment": 0.13}, seed=7)
    counts = {v["name"]: v["counts"] for v in outcome.report["variants"]}
    for variant in ("control", "treatment"):  # every request and click is counted, once
        assert counts[variant]["impressions"] == outcome.requests[variant]
        assert counts[variant]["clicks"] == outcome.clicks[variant]
        assert counts[variant]["users"] == pytest.approx(outcome.requests[variant], rel=0.02)
    assert outcome.requests["treatment"] == pytest.approx(len(users) / 2, rel=0.03)
    versus = outcome.vs_control()
    assert versus["p_value"] < ALPHA
    assert 0.1 < versus["uplift"] < 0.5 and versus["low"] > 0  # true uplift: +30%
    assert outcome.report["verdict"].startswith("treatment is clicked")
    assert "more, p" in outcome.report["verdict"]


async def test_equal_rates_are_not_significant_in_at_least_90_percent_of_runs(
    lab: Lab, users: list[str]
) -> None:
    p_values = []
    for seed in range(20):
        outcome = await simulate(lab, f"sim-aa-{seed}", users[:1500],
                                 {"control": 0.10, "treatment": 0.10}, seed=seed)
        p_values.append(outcome.vs_control()["p_value"])
    significant = sum(p < ALPHA for p in p_values)
    assert significant <= 2, p_values
    assert max(p_values) > 0.5  # the p-values spread over (0, 1): the test is not stuck at 1
