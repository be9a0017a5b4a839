"""Limits on what one client may cost the server: body and head size, slow clients, request rate.

Two layers, each where the bytes can be stopped before they are held:

- ``LimitsMiddleware`` (pure ASGI, in every app): a body over ``max_body_bytes`` is 413
  ``body_too_large`` from its ``Content-Length`` before a byte of it is read, or as soon as a
  streamed (chunked) body passes the limit; a body that has not arrived
  ``request_timeout_seconds`` after its head is 408 ``request_timeout``; an ``X-API-Key`` over
  its token bucket (``rate_limit_per_second``, ``rate_limit_burst``) is 429 ``rate_limited`` with
  ``Retry-After``. The buckets live in the worker's memory (no Redis round trip), one per key, in
  an LRU of at most ``MAX_TRACKED_KEYS`` keys: with N workers a key may send N times the rate.
- ``LimitedHttpToolsProtocol`` (the server: ``recsys serve`` / ``serving.main.run``): uvicorn's
  httptools protocol, which has no limit of its own on the request head, plus a head of at most
  ``max_head_bytes`` (request line and headers; more is 431 ``headers_too_large`` and close), and
  deadlines: a request's head must be in ``request_timeout_seconds`` after the connection opened
  or the previous response ended (else 408 ``request_timeout``, or a plain close when nothing
  came), and the rest of a body the app answered without reading is cut the same way. Idle
  keep-alive connections are closed after ``keep_alive_seconds`` (uvicorn's own timer).
  Deadlines are checked by one sweep per worker every second (at most every
  ``request_timeout_seconds / 2``), not by a timer per request: uvloop's ``call_later`` +
  ``cancel`` costs about 3.5 µs, stamping a deadline about 0.15 µs.

Cost per request on the hot path (a GET with a key, measured in-process on the dev machine, no
network): the middleware about 1.2 µs (header scan 0.45, token bucket 0.25), the protocol's
additions about 1-1.5 µs (HttpToolsProtocol fed whole requests: 8.6 -> 9.7 µs, best of 30).
Error bodies are the spec's ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache, partial
from typing import Any, NoReturn
from weakref import WeakKeyDictionary

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from serving.errors import error_body
from serving.settings import ServingSettings, load_settings

MAX_TRACKED_KEYS = 10_000
"""API keys whose token bucket a worker remembers; the least recently used is forgotten."""

_API_KEY = b"x-api-key"  # ASGI header names are lowercase
_CONTENT_LENGTH = b"content-length"
_TRANSFER_ENCODING = b"transfer-encoding"
_JSON = (b"content-type", b"application/json")
_CLOSE = (b"connection", b"close")


def _json_error(code: str, message: str) -> bytes:
    return orjson.dumps(error_body(code, message))


class TokenBuckets:
    """One token bucket per key (``rate`` tokens a second, at most ``burst``), in an LRU."""

    def __init__(self, rate: float, burst: int, max_keys: int = MAX_TRACKED_KEYS) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[bytes, list[float]] = OrderedDict()

    def take(self, key: bytes) -> float:
        """0.0 when ``key`` may go now (a token is taken), else the seconds until it may."""
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.popitem(last=False)
            self._buckets[key] = [self.burst - 1.0, now]
            return 0.0
        self._buckets.move_to_end(key)
        tokens = bucket[0] + (now - bucket[1]) * self.rate
        if tokens > self.burst:
            tokens = self.burst
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


class _Answered(Exception):
    """Raised from ``receive`` once the middleware has answered: unwinds the app."""


class LimitsMiddleware:
    """Pure ASGI middleware: body size and time, and the per-key rate limit (module docstring)."""

    def __init__(self, app: ASGIApp, settings: ServingSettings) -> None:
        self.app = app
        self.max_body_bytes = settings.max_body_bytes
        self.timeout_seconds = settings.request_timeout_seconds
        rate, burst = settings.rate_limit_per_second, settings.rate_limit_burst
        self.buckets = TokenBuckets(rate, burst) if rate > 0 else None
        self._too_large = _json_error(
            "body_too_large", f"the request body is over {self.max_body_bytes} bytes; "
            f"send at most {self.max_body_bytes} bytes a request")
        self._too_slow = _json_error(
            "request_timeout", f"the request body did not arrive within "
            f"{self.timeout_seconds:g} s; send it again")
        self._too_many = _json_error(
            "rate_limited", f"this API key sent more than {rate:g} requests a second (bursts "
            f"of {burst}) to one server worker; retry after the seconds in Retry-After")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = length = None
        has_body = False
        for name, value in scope["headers"]:
            if name == _API_KEY:
                key = value
            elif name == _CONTENT_LENGTH:
                length = value
            elif name == _TRANSFER_ENCODING:
                has_body = True
        if length is not None:
            try:
                size = int(length)
            except ValueError:  # the server's parser refuses these; an ASGI client may not
                size = 0
            if size > self.max_body_bytes:
                await _answer(send, 413, self._too_large, (_CLOSE,))
                return
            has_body = has_body or size > 0
        if key is not None and self.buckets is not None:
            wait = self.buckets.take(key)
            if wait:
                retry = (b"retry-after", str(max(1, math.ceil(wait))).encode("ascii"))
                await _answer(send, 429, self._too_many, (retry,))
                return
        if has_body:
            await self._with_body(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _with_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The app, its body counted and timed as it is received."""
        deadline = asyncio.get_running_loop().time() + self.timeout_seconds
        received = 0
        started = answered = False

        async def refuse(status: int, body: bytes) -> NoReturn:
            nonlocal answered
            if not started:
                answered = True
                await _answer(send, status, body, (_CLOSE,))
            raise _Answered

        async def limited_receive() -> Message:
            nonlocal received
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                await refuse(408, self._too_slow)
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    await refuse(413, self._too_large)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:  # the app's own answer to the unwinding
                return
            started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not answered:  # _Answered after the response started, or the app's own error
                raise


async def _answer(send: Send, status: int, body: bytes,
                  headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        _JSON, (b"content-length", str(len(body)).encode("ascii")), *headers]})
    await send({"type": "http.response.body", "body": body})


def _raw_response(status: str, body: bytes) -> bytes:
    """A whole response the protocol writes itself (no app runs for it)."""
    return (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n").encode("ascii") + body


@dataclass(frozen=True)
class HeadLimits:
    """What ``LimitedHttpToolsProtocol`` enforces (picklable: uvicorn's workers are spawned)."""

    max_head_bytes: int
    timeout_seconds: float


@cache
def _environment_limits() -> HeadLimits:
    """For ``uvicorn --http serving.limits:LimitedHttpToolsProtocol``: the ``RECSYS_*`` limits."""
    return head_limits(load_settings())


def head_limits(settings: ServingSettings) -> HeadLimits:
    return HeadLimits(settings.max_head_bytes, settings.request_timeout_seconds)


@cache
def _refusals(limits: HeadLimits) -> tuple[bytes, bytes]:
    """The 431 and 408 responses of ``limits``, built once."""
    too_large = _raw_response("431 Request Header Fields Too Large", _json_error(
        "headers_too_large", f"the request line and headers are over {limits.max_head_bytes} "
        f"bytes; send at most {limits.max_head_bytes}"))
    too_slow = _raw_response("408 Request Timeout", _json_error(
        "request_timeout", f"the request head did not arrive within {limits.timeout_seconds:g} s"))
    return too_large, too_slow


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a bounded request head and deadlines for slow clients.

    Built on uvicorn's ``HttpToolsProtocol`` internals (0.54: ``parser``, ``cycle``,
    ``transport``, the parser callbacks); ``tests/serving/test_limits.py`` runs it in a real
    server. ``serving.main.run`` passes ``limits``; without them (``uvicorn --factory
    serving.main:app_factory --http serving.limits:LimitedHttpToolsProtocol``) they are read from
    the ``RECSYS_*`` environment, like the app's settings.
    """

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None, *,
                 limits: HeadLimits | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        limits = limits or _environment_limits()
        self._max_head = limits.max_head_bytes
        self._timeout = limits.timeout_seconds
        self._in_head = True  # the next bytes are a request line and headers
        self._head_bytes = 0
        self._deadline = 0.0  # loop time by which the awaited bytes must be in; 0.0: none
        self._too_large, self._too_slow = _refusals(limits)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = self.loop.time() + self._timeout
        sweeper = _SWEEPERS.get(self.server_state)
        if sweeper is None:
            sweeper = _SWEEPERS[self.server_state] = _Sweeper(
                self.loop, self.connections, min(1.0, self._timeout / 2))
        sweeper.watch()

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            room = self._max_head - self._head_bytes
            if len(data) > room:
                super().data_received(data[:room])  # the head may end within the room
                if self.transport.is_closing() or self.transport.get_protocol() is not self:
                    return
                if self._in_head:
                    self.transport.write(self._too_large)
                    self.transport.close()
                    return
                data = data[room:]
            else:
                self._head_bytes += len(data)
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        self._deadline = 0.0  # the body's time is the middleware's, while the app reads it
        before = self.cycle
        super().on_headers_complete()
        if self.cycle is not before and self.scope["method"] != "HEAD":
            self.cycle.transport = _HeadWithBody(self.transport, self.cycle)  # type: ignore[assignment]

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head = True

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # the next request (or the rest of a body the app did not read) is due by then
        self._deadline = self.loop.time() + self._timeout

    def expire(self, now: float) -> None:
        """Close the connection if what it awaits is overdue (and no response is under way)."""
        if not self._deadline or now < self._deadline or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # the app is answering; checked again after
        if self._in_head and self._head_bytes:
            self.transport.write(self._too_slow)
        self.transport.close()


class _HeadWithBody:
    """The transport of one response that holds its status line and headers until the body's
    first write and writes them together: one system call and one TCP segment for a response
    whose body comes in one piece (every JSON response here), where uvicorn writes two. Not
    for HEAD requests, which have no body write to join."""

    __slots__ = ("_cycle", "_head", "_held", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._held = False

    def write(self, data: bytes) -> None:
        if not self._held and self._cycle.response_started:  # the first write after the start
            self._held = True
            self._head = data
            return
        if self._head is not None:
            data, self._head = self._head + data, None
        self._transport.write(data)

    def close(self) -> None:
        if self._head is not None:
            self._transport.write(self._head)
            self._head = None
        self._transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class _Sweeper:
    """Expires the overdue connections of one server, every ``interval`` seconds while any."""

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any],
                 interval: float) -> None:
        self._loop = loop
        self._connections = connections
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None

    def watch(self) -> None:
        if self._handle is None:
            self._handle = self._loop.call_later(self._interval, self._sweep)

    def _sweep(self) -> None:
        self._handle = None
        now = self._loop.time()
        for connection in tuple(self._connections):
            if isinstance(connection, LimitedHttpToolsProtocol):
                connection.expire(now)
        if self._connections:
            self.watch()


_SWEEPERS: WeakKeyDictionary[ServerState, _Sweeper] = WeakKeyDictionary()


def uvicorn_options(settings: ServingSettings) -> dict[str, Any]:
    """The uvicorn options that enforce ``settings``' limits on the head and on idle clients."""
    return {"http": partial(LimitedHttpToolsProtocol, limits=head_limits(settings)),
            "timeout_keep_alive": settings.keep_alive_seconds}
