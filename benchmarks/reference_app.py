"""The reference of ``bench_serving``: a plain FastAPI route doing one Redis GET of the user's
encoded 100-item list and returning the bytes as they are.

A module of its own, importing only FastAPI and redis, so that the reference process carries no
more than such a service would (importing the benchmark's data tooling into it made its
garbage-collector passes, and so its tail, several times longer).
"""

from __future__ import annotations

import os

import redis.asyncio as aredis
from fastapi import FastAPI
from starlette.responses import Response

KEY = "bench:ref:{}"


def reference_app() -> FastAPI:
    app = FastAPI()
    client = aredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    @app.get("/v1/users/{user_id}/recommendations")
    async def recommendations(user_id: str) -> Response:
        return Response(await client.get(KEY.format(user_id)),
                        media_type="application/octet-stream")

    return app
