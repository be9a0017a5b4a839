"""Issue 11 on the read routes: no 500s from odd dates, a JSON 500 that leaks nothing, no
internals in 503 bodies, a long enough secret, no server without API keys, a bounded
``exclude``, and unknown categories named."""

from __future__ import annotations

import logging

import httpx
import pytest
import redis
from fastapi import FastAPI
from pydantic import ValidationError

from recommender.errors import ConfigError
from serving import ranking
from serving.deps import MAX_EXCLUDE, MAX_EXCLUDE_CHARS
from serving.errors import error_response
from serving.settings import MIN_SECRET_LENGTH, load_settings
from storage.connect import connect
from storage.keys import Keys
from tests.conftest import RedisProcess
from tests.serving import world
from tests.serving.conftest import API_KEY, client_for, make_app
from tests.serving.test_recommendations import NOON, URL

pytestmark = pytest.mark.anyio

READ_ROUTES_WITH_AT = [URL.format("u0"), "/v1/popular"]
UNREACHABLE = {"error": {
    "code": "redis_unavailable",
    "message": "Redis is unreachable; retry shortly, the service reconnects by itself"}}
REDIS_FAILED = {"error": {
    "code": "redis_unavailable",
    "message": "Redis failed to answer; retry shortly, the service reconnects by itself"}}


def invalid(message: str) -> dict[str, object]:
    return {"error": {"code": "invalid_request", "message": message}}


# -- finding 1: dates at the edge of the calendar are 422, any other failure a JSON 500 ---------

@pytest.mark.parametrize("route", READ_ROUTES_WITH_AT)
@pytest.mark.parametrize(
    "at",
    ["0001-01-01T00:00:00+14:00",  # before year 1 in UTC
     "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
     "9999-12-31T20:00:00Z",  # fine in UTC, after 9999 in Shanghai (+08:00)
     "0001-01-01T03:00:00"],  # local Shanghai time: before year 1 in UTC
)
async def test_an_instant_out_of_the_calendar_is_a_422_naming_at(
    api: httpx.AsyncClient, route: str, at: str
) -> None:
    response = await api.get(route, params={"at": at})
    assert response.status_code == 422
    assert response.json() == invalid(
        f"query.at: {at!r} is out of range, too close to year 1 or 9999 in the time zone "
        "Asia/Shanghai; send a date-time such as 2026-11-21T07:30:00+08:00")


async def test_the_first_and_last_representable_local_days_still_answer(
    api: httpx.AsyncClient,
) -> None:
    for at in ("0001-01-01T09:00:00", "9999-12-31T23:59:59"):  # LMT: +08:05:43 in year 1
        assert (await api.get("/v1/popular", params={"at": at})).status_code == 200


async def test_an_unexpected_error_is_a_json_500_that_leaks_nothing_and_is_logged(
    app: FastAPI, redis_client: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    world.publish(redis_client, prefix)

    def broken(*args: object) -> None:
        raise RuntimeError("boom at redis://10.1.2.3:6379 in ranking.popular")

    monkeypatch.setattr(ranking, "popular", broken)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test",
                                 headers={"X-API-Key": API_KEY}) as client:
        with caplog.at_level(logging.ERROR, logger="serving.errors"):
            response = await client.get("/v1/popular")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"error": {"code": "internal_error",
                                         "message": "internal error; it was logged"}}
    (record,) = [r for r in caplog.records if r.name == "serving.errors"]
    assert record.getMessage() == "GET /v1/popular: 500 internal_error"
    assert record.exc_info is not None and "boom at redis://" in str(record.exc_info[1])


# -- finding 9: nothing internal in public bodies; a long secret; no server without keys -------

async def test_redis_down_is_a_503_without_address_or_redis_text_and_the_detail_is_logged(
    redis_process: RedisProcess, caplog: pytest.LogCaptureFixture,
) -> None:
    url, prefix = f"{redis_process.url}/0", "leaks:"
    world.publish(connect(url), prefix)
    app = make_app(url, prefix, redis_timeout_seconds=0.5)
    async with await client_for(app) as client:
        assert (await client.get(URL.format("u0"))).status_code == 200
        redis_process.stop()
        with caplog.at_level(logging.WARNING, logger="serving.errors"):
            down = {route: await client.get(route) for route in (
                "/readyz", URL.format("u0"), "/v1/popular", "/v1/items/p0/similar")}
    await app.state.store.close()
    for route, response in down.items():
        assert response.status_code == 503, route
        assert response.json() == UNREACHABLE, route
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "serving.errors")
    assert "GET /readyz: 503 redis_unavailable: ConnectionError: " in logged
    assert str(redis_process.port) in logged


async def test_a_redis_error_reply_is_a_503_without_redis_text(
    app: FastAPI, redis_client: redis.Redis, prefix: str, caplog: pytest.LogCaptureFixture,
) -> None:
    redis_client.set(Keys(prefix).live(), "not a hash")  # HGETALL answers WRONGTYPE
    async with await client_for(app, None) as client:
        with caplog.at_level(logging.WARNING, logger="serving.errors"):
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == REDIS_FAILED
    assert "WRONGTYPE" in caplog.text


def test_a_failed_script_is_a_503_without_its_hash() -> None:
    sha = "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
    error = redis.exceptions.ResponseError(
        f"Error running script (call to f_{sha}): @user_script:1: oops")
    response = error_response(error)
    assert response.status_code == 503
    assert sha not in response.body.decode()
    assert response.body == error_response(redis.exceptions.ResponseError("other")).body


def test_a_short_secret_is_refused_without_showing_it() -> None:
    with pytest.raises(ValidationError) as refused:
        load_settings(api_keys="k", secret="hunter2")
    message = str(refused.value)
    assert f"RECSYS_SECRET must have at least {MIN_SECRET_LENGTH} characters (it has 7)" in message
    assert "hunter2" not in message
    assert load_settings(api_keys="k", secret="s" * MIN_SECRET_LENGTH).secret is not None


def test_a_server_without_api_keys_refuses_to_start(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECSYS_API_KEYS", raising=False)
    monkeypatch.delenv("RECSYS_ALLOW_NO_API_KEYS", raising=False)
    with pytest.raises(ConfigError, match="no API keys: set RECSYS_API_KEYS") as refused:
        make_app(redis_url, prefix, api_keys=" , ")
    assert "RECSYS_ALLOW_NO_API_KEYS=true" in str(refused.value)
    assert load_settings().api_keys == []  # commands reading other settings need no keys


async def test_allowed_openly_a_server_without_keys_starts_and_refuses_every_v1_request(
    redis_url: str, redis_client: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.publish(redis_client, prefix)
    monkeypatch.setenv("RECSYS_ALLOW_NO_API_KEYS", "true")
    app = make_app(redis_url, prefix, api_keys="")
    async with await client_for(app, "") as client:
        assert (await client.get("/v1/popular")).status_code == 401
        assert (await client.get("/readyz")).status_code == 200
    await app.state.store.close()


# -- finding 10: exclude is bounded --------------------------------------------------------------

async def test_exclude_takes_up_to_its_limit_of_ids(api: httpx.AsyncClient) -> None:
    at_limit = ",".join(["p2", *(f"x{i}" for i in range(MAX_EXCLUDE - 1))])
    response = await api.get(URL.format("u0"), params={"at": NOON, "exclude": at_limit})
    assert response.status_code == 200
    assert "p2" not in [item["item_id"] for item in response.json()["items"]]


async def test_more_excluded_ids_than_the_limit_is_a_422_naming_exclude(
    api: httpx.AsyncClient,
) -> None:
    over = ",".join(f"x{i}" for i in range(MAX_EXCLUDE + 1))
    response = await api.get(URL.format("u0"), params={"exclude": over})
    assert response.status_code == 422
    assert response.json() == invalid(
        f"query.exclude: at most {MAX_EXCLUDE} item ids, got {MAX_EXCLUDE + 1}; send the ones "
        "the list must not show (e.g. the cart), not every id seen")


async def test_a_longer_exclude_than_its_character_limit_is_a_422(api: httpx.AsyncClient) -> None:
    response = await api.get(URL.format("u0"), params={"exclude": "p" * (MAX_EXCLUDE_CHARS + 1)})
    assert response.status_code == 422
    assert response.json() == invalid(
        f"query.exclude: String should have at most {MAX_EXCLUDE_CHARS} characters")


# -- finding 14 (the API half): an unknown category is named -----------------------------------

async def test_an_unknown_category_is_a_422_naming_the_known_ones(
    api: httpx.AsyncClient,
) -> None:
    response = await api.get(URL.format("u0"), params={"category": "breakfst"})
    assert response.status_code == 422
    assert response.json() == invalid(
        "query.category: unknown category 'breakfst'; the live version has articles, "
        "breakfast, lunch, snacks")


async def test_a_blank_category_is_no_filter(api: httpx.AsyncClient) -> None:
    blank = await api.get(URL.format("u0"), params={"at": NOON, "category": ""})
    absent = await api.get(URL.format("u0"), params={"at": NOON})
    assert blank.status_code == 200
    assert blank.json()["items"] == absent.json()["items"]
