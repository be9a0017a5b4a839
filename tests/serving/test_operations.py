"""Auth, health, readiness, metrics, noticing a new version, and surviving a Redis outage."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
import pytest
import redis
from fastapi import FastAPI

from storage.connect import connect
from storage.keys import Keys
from tests.conftest import RedisProcess
from tests.serving import world
from tests.serving.conftest import client_for, make_app
from tests.serving.test_recommendations import NOON, URL, ids
from training.publish import publish_version

pytestmark = pytest.mark.anyio

V1_ROUTES = ["/v1/users/u0/recommendations", "/v1/items/p0/similar", "/v1/popular"]


@pytest.mark.parametrize("route", V1_ROUTES)
@pytest.mark.parametrize(
    ("key", "message"),
    [(None, "missing X-API-Key header"), ("wrong", "invalid API key in X-API-Key"),
     ("key-1 ", "invalid API key in X-API-Key")],
)
async def test_v1_routes_need_a_configured_api_key(
    app: FastAPI, redis_client: redis.Redis, prefix: str, route: str, key: str | None,
    message: str,
) -> None:
    world.publish(redis_client, prefix)
    async with await client_for(app, key) as client:
        response = await client.get(route)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "unauthorized", "message": message}}


async def test_every_configured_key_is_accepted(
    app: FastAPI, redis_client: redis.Redis, prefix: str
) -> None:
    world.publish(redis_client, prefix)
    for key in ("key-1", "key-2"):
        async with await client_for(app, key) as client:
            assert (await client.get("/v1/popular")).status_code == 200


async def test_with_no_key_configured_every_v1_request_is_refused(
    redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    world.publish(redis_client, prefix)
    app = make_app(redis_url, prefix, api_keys="", allow_no_api_keys=True)
    async with await client_for(app, "") as client:
        assert (await client.get("/v1/popular")).status_code == 401
    await app.state.store.close()


async def test_health_and_readiness_are_open(api: httpx.AsyncClient, app: FastAPI) -> None:
    async with await client_for(app, None) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["model"] == {"name": "shop", "version": "1"}


async def test_not_ready_until_a_version_is_published(
    app: FastAPI, redis_client: redis.Redis, prefix: str
) -> None:
    async with await client_for(app) as client:
        before = await client.get("/readyz")
        recs = await client.get(URL.format("u0"))
        world.publish(redis_client, prefix)
        after = await client.get("/readyz")
    assert before.status_code == 503 and recs.status_code == 503
    assert before.json() == {"error": {
        "code": "no_live_model",
        "message": "no model is published yet; run `recsys publish NAME@ALIAS`"}}
    assert after.status_code == 200


def publish_other(client: redis.Redis, prefix: str) -> None:
    """Publish the world a second time, as model ``other``."""
    train = world.interactions()
    publish_version(client, "other", "3", world.FixedScores().fit(train.matrix), train,
                    world.catalog(), world.config(prefix), now=world.NOW)


async def test_several_live_models_serve_the_default_unless_a_model_is_named(
    redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    world.publish(redis_client, prefix)  # the first model published is the default
    publish_other(redis_client, prefix)
    unnamed, named = make_app(redis_url, prefix), make_app(redis_url, prefix, model_name="other")
    async with await client_for(unnamed) as a, await client_for(named) as b:
        default, chosen = await a.get("/v1/popular"), await b.get("/v1/popular")
        assert default.status_code == 200 and default.json()["model"]["name"] == "shop"
        assert chosen.status_code == 200 and chosen.json()["model"]["name"] == "other"
        redis_client.delete(Keys(prefix).default_model())  # no default: ambiguous again
        refused = await a.get("/v1/popular")
    assert refused.status_code == 503
    assert refused.json() == {"error": {"code": "no_live_model", "message": (
        "several models are live (other, shop) and none is the default; name the one to use "
        "(RECSYS_MODEL_NAME for the API, --model for the commands) or make one the default "
        "(`recsys publish NAME@ALIAS --default`)")}}
    for application in (unnamed, named):
        await application.state.store.close()


async def test_publishing_a_second_model_leaves_the_first_serving(
    api: httpx.AsyncClient, redis_client: redis.Redis, prefix: str
) -> None:
    assert (await api.get("/readyz")).json()["model"]["name"] == "shop"
    publish_other(redis_client, prefix)
    for route in ("/readyz", "/v1/popular", URL.format("u0"), "/v1/items/p0/similar"):
        response = await api.get(route)
        assert response.status_code == 200, (route, response.text)
        assert response.json()["model"] == {"name": "shop", "version": "1"}


async def test_metrics_count_requests_per_route_template_fallbacks_and_misses(
    api: httpx.AsyncClient,
) -> None:
    await api.get(URL.format("u0"))
    await api.get(URL.format("stranger"))
    await api.get("/v1/items/nope/similar")
    text = (await api.get("/metrics")).text
    assert ('recsys_http_requests_total{method="GET",'
            'route="/v1/users/{user_id}/recommendations",status="200"} 2.0') in text
    assert ('recsys_http_requests_total{method="GET",route="/v1/items/{item_id}/similar",'
            'status="404"} 1.0') in text
    assert 'recsys_fallbacks_total{kind="product"} 1.0' in text
    assert 'recsys_misses_total{what="item"} 1.0' in text
    assert 'recsys_misses_total{what="user"} 1.0' in text
    assert ('recsys_http_request_duration_seconds_count{'
            'route="/v1/users/{user_id}/recommendations"} 2.0') in text


async def test_a_new_version_is_served_within_the_refresh_interval_without_restart(
    redis_url: str, redis_client: redis.Redis, prefix: str
) -> None:
    world.publish(redis_client, prefix, version="1")
    app = make_app(redis_url, prefix, live_refresh_seconds=0.2)
    async with await client_for(app) as client:
        first = await client.get(URL.format("u0"), params={"at": NOON})
        world.publish(redis_client, prefix, version="2",
                      model=world.FixedScores(scores=1.0 - world.SCORES))
        deadline = time.monotonic() + 5
        while (await client.get("/readyz")).json()["model"]["version"] != "2":
            assert time.monotonic() < deadline, "the new version was not noticed"
        second = await client.get(URL.format("u0"), params={"at": NOON})
    await app.state.store.close()
    assert first.json()["model"]["version"] == "1" and ids(first) == ["p2", "p3", "p0", "p1"]
    assert second.json()["model"]["version"] == "2" and ids(second) == ["p1", "p0", "p3", "p2"]


async def test_redis_down_is_503_and_the_service_recovers_by_itself(
    redis_process: RedisProcess,
) -> None:
    url, prefix = f"{redis_process.url}/0", "outage:"
    world.publish(connect(url), prefix)
    app = make_app(url, prefix, redis_timeout_seconds=0.5)
    async with await client_for(app) as client:
        assert (await client.get(URL.format("u0"))).status_code == 200
        redis_process.stop()
        down = [await client.get(route) for route in (URL.format("u0"), "/readyz",
                                                      "/v1/popular", "/v1/items/p0/similar")]
        assert (await client.get("/healthz")).status_code == 200
        redis_process.start()
        recs, ready = await client.get(URL.format("u0")), await client.get("/readyz")
    await app.state.store.close()
    for response in down:
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "redis_unavailable"
        assert "Redis is unreachable" in response.json()["error"]["message"]
    assert recs.status_code == 200 and ids(recs)
    assert ready.status_code == 200


def test_serving_imports_neither_training_mlflow_nor_implicit() -> None:
    code = (
        "import sys, serving.main; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'training', 'mlflow', 'implicit'}); print(','.join(bad))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == ""
