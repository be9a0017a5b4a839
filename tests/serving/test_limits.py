"""Limits (``serving.limits``): body size and time, head size, slow clients, rate per API key.

The middleware's limits are tested in-process; what only a real server enforces (the head, slow
heads, idle connections) against ``serving.main.run`` in a subprocess, over raw sockets.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import redis
from fastapi import FastAPI

from serving.limits import LimitsMiddleware, TokenBuckets, _HeadWithBody
from serving.settings import load_settings
from tests.conftest import free_port
from tests.serving import world
from tests.serving.conftest import API_KEY, client_for, make_app

EVENTS = "/v1/events"


# ---------------------------------------------------------------- in-process: the middleware

async def call(app: Any, method: str, path: str, headers: dict[str, str],
               chunks: list[bytes] | None = None, stall: bool = False) -> dict[str, Any]:
    """One raw ASGI request: ``chunks`` as the body (``stall``: then nothing more, ever).
    Returns the status, headers, JSON body and how many body messages the app asked for."""
    pending = list(chunks or [])
    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        if not pending and stall:
            await asyncio.sleep(3600)
        body = pending.pop(0) if pending else b""
        return {"type": "http.request", "body": body, "more_body": bool(pending) or stall}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "server": ("test", 80),
             "client": ("127.0.0.1", 1),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    await asyncio.wait_for(app(scope, receive, send), 5)  # bounded: a stalled body never ends
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return {"status": start["status"], "asked": asked, "json": orjson.loads(body) if body else None,
            "headers": {k.decode(): v.decode() for k, v in start["headers"]}}


@pytest.fixture
async def limited(redis_url: str, prefix: str) -> AsyncIterator[Callable[..., FastAPI]]:
    """``limited(**settings)``: an app with those settings (closed afterwards)."""
    apps: list[FastAPI] = []

    def build(**settings: object) -> FastAPI:
        apps.append(make_app(redis_url, prefix, **settings))
        return apps[-1]

    yield build
    for app in apps:
        await app.state.store.close()


@pytest.mark.anyio
async def test_a_body_over_the_limit_by_its_length_is_413_before_a_byte_is_read(
        limited: Callable[..., FastAPI]) -> None:
    app = limited(max_body_bytes=1000)
    answer = await call(app, "POST", EVENTS, {"x-api-key": API_KEY, "content-length": "2000"},
                        [b"x" * 1000, b"x" * 1000])
    assert answer["status"] == 413
    assert answer["asked"] == 0
    assert answer["headers"]["connection"] == "close"
    assert answer["json"] == {"error": {
        "code": "body_too_large",
        "message": "the request body is over 1000 bytes; send at most 1000 bytes a request"}}


@pytest.mark.anyio
async def test_a_streamed_body_is_cut_once_it_passes_the_limit(
        limited: Callable[..., FastAPI]) -> None:
    app = limited(max_body_bytes=1000)
    answer = await call(app, "POST", EVENTS,
                        {"x-api-key": API_KEY, "transfer-encoding": "chunked"},
                        [b"x" * 600, b"x" * 600, b"x" * 600, b"x" * 600])
    assert (answer["status"], answer["json"]["error"]["code"]) == (413, "body_too_large")
    assert answer["asked"] == 2  # not a chunk more than the one that passed the limit


@pytest.mark.anyio
async def test_a_body_that_stops_arriving_is_408_after_the_request_timeout(
        limited: Callable[..., FastAPI]) -> None:
    app = limited(request_timeout_seconds=0.2)
    started = time.monotonic()
    answer = await call(app, "POST", EVENTS, {"x-api-key": API_KEY, "content-length": "100"},
                        [b"[{"], stall=True)
    assert time.monotonic() - started < 2
    assert answer["status"] == 408
    assert answer["headers"]["connection"] == "close"
    assert answer["json"] == {"error": {
        "code": "request_timeout",
        "message": "the request body did not arrive within 0.2 s; send it again"}}


@pytest.mark.anyio
async def test_a_10_mb_body_with_a_junk_field_is_413_by_default(api: httpx.AsyncClient) -> None:
    body = orjson.dumps({"events": [], "junk": "x" * 10_000_000})
    response = await api.post(EVENTS, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


@pytest.mark.anyio
async def test_a_body_under_the_limit_is_served_as_before(api: httpx.AsyncClient) -> None:
    events = [{"user_id": "u0", "item_id": "p2", "event": "view", "timestamp": 0}]
    response = await api.post(EVENTS, json={"events": events})
    assert (response.status_code, response.json()) == (202, {"accepted": 1, "duplicates": 0})


@pytest.mark.anyio
async def test_a_key_over_its_rate_gets_429_with_retry_after_and_other_keys_do_not(
        limited: Callable[..., FastAPI], redis_client: redis.Redis, prefix: str) -> None:
    world.publish(redis_client, prefix)
    app = limited(rate_limit_per_second=0.5, rate_limit_burst=2)
    async with (await client_for(app) as client, await client_for(app, "key-2") as other,
                await client_for(app, None) as anonymous):
        statuses = [(await client.get("/v1/popular")).status_code for _ in range(2)]
        limited = await client.get("/v1/popular")
        assert statuses == [200, 200]
        assert limited.status_code == 429
        assert limited.headers["retry-after"] == "2"
        assert limited.json() == {"error": {
            "code": "rate_limited",
            "message": "this API key sent more than 0.5 requests a second (bursts of 2) to one "
                       "server worker; retry after the seconds in Retry-After"}}
        assert (await other.get("/v1/popular")).status_code == 200
        assert (await anonymous.get("/healthz")).status_code == 200
        metrics = await anonymous.get("/metrics")
    assert 'status="429"' in metrics.text


@pytest.mark.anyio
async def test_the_rate_limit_is_on_by_default_at_2000_a_second_bursts_of_4000() -> None:
    settings = load_settings(api_keys="k")
    assert (settings.rate_limit_per_second, settings.rate_limit_burst) == (2000.0, 4000)

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    middleware = LimitsMiddleware(ok, settings)
    middleware.buckets.rate = 1e-9  # type: ignore[union-attr]  # no refill while we count
    statuses = [(await call(middleware, "GET", "/", {"x-api-key": "k"}))["status"]
                for _ in range(4001)]
    assert statuses.count(200) == 4000
    assert statuses[-1] == 429


@pytest.mark.anyio
async def test_a_rate_of_zero_turns_the_limit_off(limited: Callable[..., FastAPI]) -> None:
    app = limited(rate_limit_per_second=0, rate_limit_burst=1)
    async with await client_for(app) as client:
        statuses = {(await client.get("/healthz")).status_code for _ in range(5)}
    assert 429 not in statuses


def test_the_buckets_remember_at_most_max_keys_forgetting_the_least_recently_used() -> None:
    buckets = TokenBuckets(rate=1e-9, burst=1, max_keys=3)
    for key in (b"a", b"b", b"c"):
        assert buckets.take(key) == 0.0
    assert buckets.take(b"a") > 0  # a is now the most recent; b the least
    assert buckets.take(b"d") == 0.0
    assert len(buckets) == 3
    assert buckets.take(b"b") == 0.0  # b was forgotten: a fresh bucket
    assert buckets.take(b"a") > 0  # a was kept
    assert len(buckets) == 3


# ------------------------------------------------------------- a real server: head and sockets

TIMEOUT_SECONDS = 1.0
"""The server's ``request_timeout_seconds`` and ``keep_alive_seconds``; cut within 1.5 s."""
WAIT_SECONDS = 4.0


@contextmanager
def running_server(command: list[str], port: int, redis_server: str, log: Path
            ) -> Iterator[tuple[str, int]]:
    """``command`` (a server on ``port``) in a subprocess with 1 s timeouts: (host, port)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RECSYS_")}
    env.update(RECSYS_REDIS_URL=f"{redis_server}/11", RECSYS_API_KEYS=API_KEY,
               RECSYS_PREFIX=f"test:{uuid.uuid4().hex[:12]}:",
               RECSYS_REQUEST_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS),
               RECSYS_KEEP_ALIVE_SECONDS=str(int(TIMEOUT_SECONDS)))
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                    if sock.recv(100).startswith(b"HTTP/1.1 200"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the server did not start: {log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(redis_server: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[tuple[str, int]]:
    """``serving.main.run``, as ``recsys serve`` starts it."""
    port = free_port()
    with running_server([sys.executable, "-c", f"from serving.main import run; run(port={port})"],
                 port, redis_server, tmp_path_factory.mktemp("serve") / "server.log") as address:
        yield address


def connect(server: tuple[str, int]) -> socket.socket:
    return socket.create_connection(server, timeout=WAIT_SECONDS)


def read_until_closed(sock: socket.socket) -> bytes | None:
    """Everything the server sends until it closes; None if it is still open after
    ``WAIT_SECONDS``."""
    data = b""
    sock.settimeout(WAIT_SECONDS)
    deadline = time.monotonic() + WAIT_SECONDS
    try:
        while time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk
    except ConnectionResetError:
        return data
    except TimeoutError:
        return None
    return None


def read_response(sock: socket.socket) -> bytes:
    """One whole response with a Content-Length (the connection stays open)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return data


def status_and_error(response: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), orjson.loads(body)


def test_a_head_over_64_kib_is_431_and_closed(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Junk: " + b"x" * 100_000
                     + b"\r\n\r\n")
        response = read_until_closed(sock)
    assert response is not None, "still open"
    assert status_and_error(response) == (431, {"error": {
        "code": "headers_too_large",
        "message": "the request line and headers are over 65536 bytes; send at most 65536"}})


def test_a_head_under_the_limit_in_one_chunk_with_its_body_is_served(
        server: tuple[str, int]) -> None:
    body = b"[" + b" " * 200_000 + b"]"  # head and body arrive together, more than 64 KiB
    with connect(server) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        response = read_until_closed(sock)
    assert response is not None
    assert response.startswith(b"HTTP/1.1 401")  # no key: the head was accepted


def test_a_100_mb_body_is_refused_from_its_length_without_being_sent(
        server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: t\r\nX-API-Key: " + API_KEY.encode()
                     + b"\r\nContent-Type: application/json\r\nContent-Length: 104857600"
                     b"\r\n\r\n" + b"[" * 65536)
        started = time.monotonic()
        response = read_until_closed(sock)
    assert response is not None, "still open: the server waits for the 100 MB"
    assert time.monotonic() - started < 1
    assert status_and_error(response)[0] == 413


def test_a_head_that_stops_arriving_is_408_and_closed_after_the_timeout(
        server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        started = time.monotonic()
        response = read_until_closed(sock)
    assert response is not None, "still open"
    assert TIMEOUT_SECONDS - 0.2 < time.monotonic() - started < TIMEOUT_SECONDS + 1.5
    assert status_and_error(response) == (408, {"error": {
        "code": "request_timeout", "message": "the request head did not arrive within 1 s"}})


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(
        server: tuple[str, int]) -> None:
    with connect(server) as sock:
        assert read_until_closed(sock) == b""


def test_a_body_that_trickles_in_is_408_after_the_timeout(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: t\r\nX-API-Key: " + API_KEY.encode()
                     + b"\r\nContent-Length: 1000\r\n\r\n[")
        started = time.monotonic()
        while time.monotonic() - started < WAIT_SECONDS:  # a byte every 0.3 s until answered
            if select.select([sock], [], [], 0.3)[0]:
                break
            sock.sendall(b" ")
        response = read_until_closed(sock)
    assert response is not None, "still open"
    assert time.monotonic() - started < TIMEOUT_SECONDS + 1
    assert status_and_error(response) == (408, {"error": {
        "code": "request_timeout",
        "message": "the request body did not arrive within 1 s; send it again"}})


def test_an_unread_body_trickling_in_after_the_answer_is_cut(server: tuple[str, int]) -> None:
    with connect(server) as sock:  # no key: 401 before the body is read
        sock.sendall(b"POST /v1/events HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n[")
        assert read_response(sock).startswith(b"HTTP/1.1 401")
        started = time.monotonic()
        try:
            while time.monotonic() - started < WAIT_SECONDS:
                time.sleep(0.3)
                sock.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert time.monotonic() - started < TIMEOUT_SECONDS + 2, "still open"


def test_an_idle_keep_alive_connection_is_closed(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert read_response(sock).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert read_until_closed(sock) == b""
    assert time.monotonic() - started < TIMEOUT_SECONDS + 1


def test_many_half_sent_requests_are_all_closed(server: tuple[str, int]) -> None:
    sockets = [connect(server) for _ in range(300)]
    try:
        for sock in sockets:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-A")
        time.sleep(TIMEOUT_SECONDS + 1.5)
        still_open = 0
        for sock in sockets:
            sock.settimeout(0.5)
            try:
                while sock.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            except TimeoutError:
                still_open += 1
        assert still_open == 0
    finally:
        for sock in sockets:
            sock.close()


def test_keep_alive_requests_are_served_one_after_another(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        for _ in range(3):
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            assert read_response(sock).startswith(b"HTTP/1.1 200")


def test_uvicorn_run_by_hand_gets_the_head_limits_from_the_environment(
        redis_server: str, tmp_path: Path) -> None:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "--factory", "serving.main:app_factory",
               "--http", "serving.limits:LimitedHttpToolsProtocol", "--port", str(port)]
    with running_server(command, port, redis_server, tmp_path / "server.log") as address:
        with connect(address) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Junk: " + b"x" * 100_000
                         + b"\r\n\r\n")
            large = read_until_closed(sock)
        with connect(address) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            slow = read_until_closed(sock)
    assert large is not None and status_and_error(large)[0] == 431
    assert slow is not None and status_and_error(slow)[0] == 408


def test_a_response_head_is_written_with_its_body_in_one_write() -> None:
    class Transport:
        def __init__(self) -> None:
            self.writes: list[bytes] = []
            self.closed = False

        def write(self, data: bytes) -> None:
            self.writes.append(data)

        def close(self) -> None:
            self.closed = True

        def is_closing(self) -> bool:
            return self.closed

    class Cycle:
        response_started = False

    transport, cycle = Transport(), Cycle()
    joined = _HeadWithBody(transport, cycle)  # type: ignore[arg-type]
    joined.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response starts: at once
    cycle.response_started = True
    joined.write(b"HTTP/1.1 200 OK\r\n\r\n")  # the head: held
    assert transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    joined.write(b"body")
    joined.write(b" and more")  # a streamed body's next parts go as they come
    assert transport.writes[1:] == [b"HTTP/1.1 200 OK\r\n\r\nbody", b" and more"]
    assert not joined.is_closing()  # the rest is the transport's

    transport, cycle = Transport(), Cycle()
    joined = _HeadWithBody(transport, cycle)  # type: ignore[arg-type]
    cycle.response_started = True
    joined.write(b"HTTP/1.1 500 Internal Server Error\r\n\r\n")
    joined.close()  # the app failed after the start: the head still goes, then the close
    assert transport.writes == [b"HTTP/1.1 500 Internal Server Error\r\n\r\n"]
    assert transport.closed


def test_head_requests_and_keep_alive_gets_are_answered_whole(server: tuple[str, int]) -> None:
    with connect(server) as sock:
        sock.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        assert data.startswith(b"HTTP/1.1 405") and data.endswith(b"\r\n\r\n")  # GET only
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        assert status_and_error(read_response(sock))[0] == 200
