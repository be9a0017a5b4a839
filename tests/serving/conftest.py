"""An app over the published test shop (``world``), and an HTTP client on it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import redis
from fastapi import FastAPI

from serving.main import create_app
from serving.settings import load_settings
from tests.serving import world

API_KEY = "key-1"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make_app(redis_url: str, prefix: str, **settings: object) -> FastAPI:
    options: dict[str, object] = {"api_keys": f"{API_KEY},key-2", "live_refresh_seconds": 0}
    options.update(settings)
    return create_app(load_settings(redis_url=redis_url, prefix=prefix, **options))


async def client_for(app: FastAPI, key: str | None = API_KEY) -> httpx.AsyncClient:
    headers = {"X-API-Key": key} if key else {}
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test",
                             headers=headers)


@pytest.fixture
async def app(redis_url: str, prefix: str) -> AsyncIterator[FastAPI]:
    application = make_app(redis_url, prefix)
    yield application
    await application.state.store.close()


@pytest.fixture
async def api(app: FastAPI, redis_client: redis.Redis, prefix: str
              ) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a valid key, the shop published."""
    world.publish(redis_client, prefix)
    async with await client_for(app) as client:
        yield client
