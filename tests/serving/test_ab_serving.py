"""A/B experiments through the API on the real Redis (db 15): assignment, counting, attribution.

The test shop (``world``) is published twice: version 1 live, version 2 (scores reversed, so
``u0`` gets ``p1, p0, p3, p2`` instead of ``p2, p3, p0, p1``) only for the experiment.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis
from fastapi import FastAPI

from serving.attribution import utc_day
from serving.rec_ids import RecId
from storage.connect import connect
from storage.experiments import ExperimentRecord, VariantRecord, open_experiment, stop_experiment
from storage.keys import Keys
from tests.conftest import delete_prefix
from tests.serving import world
from tests.serving.conftest import client_for, make_app
from training.publish import RETAIN_SECONDS

pytestmark = pytest.mark.anyio

AB_DB = 15
ADMIN_KEY = "admin-1"
NOON = "2026-11-20T04:00:00Z"
URL = "/v1/users/{}/recommendations"
REVERSED = (1 - world.SCORES).astype("float32")


@dataclass(frozen=True)
class Shop:
    client: redis.Redis
    url: str
    prefix: str
    keys: Keys
    experiment: str
    namespaces: dict[str, str]


@pytest.fixture
def ab_client(redis_url_for: Callable[[int], str]) -> Iterator[redis.Redis]:
    client = connect(redis_url_for(AB_DB))
    yield client
    client.close()


@pytest.fixture
def ab_prefix(ab_client: redis.Redis) -> Iterator[str]:
    """A prefix of this test alone in db 15; its keys are deleted afterwards."""
    value = f"test:ab:{uuid.uuid4().hex[:12]}:"
    yield value
    delete_prefix(ab_client, value)


def _record(name: str, namespaces: dict[str, str]) -> ExperimentRecord:
    variants = tuple(VariantRecord(variant, 50, f"shop/{version}", "shop", version,
                                   namespaces[variant])
                     for variant, version in (("control", "1"), ("treatment", "2")))
    return ExperimentRecord(name, "running", "control", ("product",), variants,
                            datetime.now(UTC))


def _name_splitting(namespaces: dict[str, str]) -> str:
    """An experiment name that puts u0 in treatment and u1 in control (found, not random)."""
    for i in range(1000):
        parsed = ExperimentRecord.from_json(json.dumps(_record(f"exp-{i}", namespaces).to_json()))
        if [parsed.assign(user).name for user in ("u0", "u1")] == ["treatment", "control"]:
            return f"exp-{i}"
    raise AssertionError("no name splits u0 and u1")  # pragma: no cover


@pytest.fixture
def shop(ab_client: redis.Redis, ab_prefix: str, redis_url_for: Callable[[int], str]) -> Shop:
    prefix = ab_prefix
    live = world.publish(ab_client, prefix, "1")
    other = world.publish(ab_client, prefix, "2", model=world.FixedScores(REVERSED),
                          make_live=False)
    namespaces = {"control": live.namespace, "treatment": other.namespace}
    name = _name_splitting(namespaces)
    keys = Keys(prefix)
    open_experiment(ab_client, keys, _record(name, namespaces))
    return Shop(ab_client, redis_url_for(AB_DB), prefix, keys, name, namespaces)


@pytest.fixture
async def ab_app(shop: Shop) -> AsyncIterator[FastAPI]:
    app = make_app(shop.url, shop.prefix, admin_keys=ADMIN_KEY)
    yield app
    await app.state.store.close()


@pytest.fixture
async def api(ab_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(ab_app) as client:
        yield client


async def recs(api: httpx.AsyncClient, user: str, **params: Any) -> dict[str, Any]:
    response = await api.get(URL.format(user), params={"at": NOON, **params})
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def ids(body: dict[str, Any]) -> list[str]:
    return [item["item_id"] for item in body["items"]]


def click(user: str, item: str, rec_id: str, event: str = "click") -> dict[str, Any]:
    return {"user_id": user, "item_id": item, "event": event, "rec_id": rec_id,
            "timestamp": time.time()}


def counts(shop: Shop) -> dict[str, int]:
    raw = shop.client.hgetall(shop.keys.ab_counts(shop.experiment, utc_day()))
    return {k.decode(): int(v) for k, v in raw.items()}


def rejected(shop: Shop) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in shop.client.hgetall(shop.keys.ab_rejected()).items()}


async def test_each_user_gets_their_variants_version_and_a_signed_rec_id(
    api: httpx.AsyncClient, ab_app: FastAPI, shop: Shop
) -> None:
    treated, control = await recs(api, "u0"), await recs(api, "u1")
    assert (treated["experiment"], treated["variant"], treated["model"]) == (
        shop.experiment, "treatment", {"name": "shop", "version": "2"})
    assert ids(treated) == ["p1", "p0", "p3", "p2"]  # version 2's reversed scores
    assert (control["variant"], control["model"]["version"]) == ("control", "1")
    signer = await ab_app.state.ab.signer()
    payload = signer.verify(treated["rec_id"], "u0", time.time(), 3600)
    assert isinstance(payload, RecId)
    assert (payload.experiment, payload.variant, payload.model, payload.version) == (
        shop.experiment, "treatment", "shop", "2")
    assert [(await recs(api, "u0"))["variant"] for _ in range(3)] == ["treatment"] * 3


async def test_kinds_outside_the_experiment_get_the_live_version(api: httpx.AsyncClient) -> None:
    body = await recs(api, "u0", kind="content")
    assert (body["experiment"], body["variant"], body["model"]["version"]) == (None, None, "1")


async def test_stopping_the_experiment_brings_everyone_back_to_live(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    assert (await recs(api, "u0"))["variant"] == "treatment"
    stop_experiment(shop.client, shop.keys, shop.experiment, retain_seconds=RETAIN_SECONDS)
    body = await recs(api, "u0")
    assert (body["experiment"], body["model"]["version"]) == (None, "1")
    assert ids(body) == ["p2", "p3", "p0", "p1"]


async def test_impressions_requests_and_users_are_counted_per_variant(
    api: httpx.AsyncClient, ab_app: FastAPI, shop: Shop
) -> None:
    shown = [len((await recs(api, "u0", n=2))["items"]) for _ in range(2)]
    shown_control = len((await recs(api, "u1"))["items"])
    await recs(api, "u0", kind="content")  # not in the experiment: not counted
    await ab_app.state.ab.flush()
    assert shown == [2, 2] and shown_control > 0
    assert counts(shop) == {"impressions:treatment": 4, "requests:treatment": 2,
                            "impressions:control": shown_control, "requests:control": 1}
    users = [shop.client.pfcount(shop.keys.ab_users(shop.experiment, variant))
             for variant in ("control", "treatment")]
    assert users == [1, 1]


async def test_clicks_carts_and_purchases_count_once_per_user_item_and_type(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    rec_id = (await recs(api, "u0"))["rec_id"]
    batch = [click("u0", "p1", rec_id), click("u0", "p1", rec_id), click("u0", "p0", rec_id),
             click("u0", "p1", rec_id, "cart"), click("u0", "p1", rec_id, "purchase"),
             click("u0", "p1", rec_id, "view")]
    response = await api.post("/v1/events", json={"events": batch})
    again = await api.post("/v1/events", json=[click("u0", "p1", rec_id)])
    assert (response.status_code, response.json()) == (202, {"accepted": 6, "duplicates": 0})
    assert again.status_code == 202
    assert {k: v for k, v in counts(shop).items() if not k.startswith(("impr", "requ"))} == {
        "click:treatment": 2, "cart:treatment": 1, "purchase:treatment": 1}
    assert rejected(shop) == {}


async def test_a_tampered_rec_id_is_ignored_and_counted_as_forged(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    rec_id = (await recs(api, "u0"))["rec_id"]
    middle = len(rec_id) // 2
    tampered = rec_id[:middle] + ("B" if rec_id[middle] == "A" else "A") + rec_id[middle + 1 :]
    response = await api.post("/v1/events", json=[click("u0", "p1", tampered),
                                                  click("u0", "p1", "made-up")])
    assert response.status_code == 202  # the events are stored, only not attributed
    assert "click:treatment" not in counts(shop)
    assert rejected(shop) == {"forged": 2}


async def test_an_expired_rec_id_is_ignored_and_counted_as_expired(
    api: httpx.AsyncClient, ab_app: FastAPI, shop: Shop
) -> None:
    signer = await ab_app.state.ab.signer()
    old = signer.issue("u0", "shop", "2", shop.experiment, "treatment",
                       now=time.time() - 24 * 3600 - 60)
    await api.post("/v1/events", json=[click("u0", "p1", old)])
    assert "click:treatment" not in counts(shop)
    assert rejected(shop) == {"expired": 1}


async def test_another_users_rec_id_is_not_attributed(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    rec_id = (await recs(api, "u0"))["rec_id"]
    await api.post("/v1/events", json=[click("u1", "p1", rec_id)])
    assert "click:treatment" not in counts(shop) and "click:control" not in counts(shop)
    assert rejected(shop) == {"other_user": 1}


async def test_the_admin_report_gives_the_counts_and_needs_an_admin_key(
    api: httpx.AsyncClient, ab_app: FastAPI, shop: Shop
) -> None:
    treated = await recs(api, "u0", n=2)
    await recs(api, "u1", n=3)
    await api.post("/v1/events", json=[click("u0", ids(treated)[0], treated["rec_id"])])
    url = f"/v1/admin/experiments/{shop.experiment}/report"
    async with await client_for(ab_app, ADMIN_KEY) as admin:
        report = await admin.get(url, params={"metric": "ctr"})
        missing = await admin.get("/v1/admin/experiments/nope/report")
    forbidden = await api.get(url)
    async with await client_for(ab_app, None) as anonymous:
        unauthorized = await anonymous.get(url)
    assert report.status_code == 200
    body = report.json()
    assert (body["name"], body["control"], body["metric"]) == (shop.experiment, "control", "ctr")
    assert {v["name"]: v["counts"] for v in body["variants"]} == {
        "control": {"users": 1, "impressions": 3, "clicks": 0, "carts": 0, "purchases": 0},
        "treatment": {"users": 1, "impressions": 2, "clicks": 1, "carts": 0, "purchases": 0},
    }
    assert body["variants"][1]["ctr"]["value"] == 0.5
    assert body["experiment"]["variants"][1]["version"] == "2"
    assert body["verdict"].startswith("not enough data")
    assert (forbidden.status_code, forbidden.json()["error"]["code"]) == (403, "forbidden")
    assert unauthorized.status_code == 401
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "unknown_experiment")


async def test_workers_without_a_secret_share_the_one_kept_in_redis(shop: Shop) -> None:
    first, second = (make_app(shop.url, shop.prefix) for _ in range(2))
    async with await client_for(first) as api:
        rec_id = (await recs(api, "u0"))["rec_id"]
    payload = (await second.state.ab.signer()).verify(rec_id, "u0", time.time(), 60)
    for app in (first, second):
        await app.state.store.close()
    assert isinstance(payload, RecId) and payload.variant == "treatment"
    assert shop.client.exists(shop.keys.secret())


async def test_buffered_impressions_are_written_when_the_app_shuts_down(
    ab_app: FastAPI, shop: Shop
) -> None:
    async with ab_app.router.lifespan_context(ab_app):
        async with await client_for(ab_app) as api:
            shown = len((await recs(api, "u0", n=3))["items"])
        assert shown == 3
    assert counts(shop) == {"impressions:treatment": 3, "requests:treatment": 1}


async def test_an_experiment_whose_version_is_gone_is_not_served(
    api: httpx.AsyncClient, shop: Shop
) -> None:
    record = _record(shop.experiment, {**shop.namespaces, "treatment": "shop:2:expired"})
    shop.client.hset(shop.keys.experiments(), shop.experiment, json.dumps(record.to_json()))
    for user in ("u0", "u1"):  # both arms, not only the broken one: they stay comparable
        body = await recs(api, user)
        assert (body["experiment"], body["model"]["version"]) == (None, "1")
