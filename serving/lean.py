"""``LeanRoute``: the read routes the mini-program calls all day, without FastAPI's per-request
machinery; ``LeanDispatch`` answers them before Starlette's middleware stack and router.

Declared like any route (path and query parameters with ``Path``/``Query``, ``Request``, the
``Context`` dependency, ``responses`` for the docs), so the OpenAPI document is FastAPI's own. At
request time the route does the work itself: it checks the API key, validates the query
parameters present with pydantic adapters built once from the declared annotations (same
constraints, same messages), resolves ``Depends`` on ``async def dep(request)`` functions, and
calls the endpoint. On the recommendations route that saved about 100 µs of the ~340 µs a
request cost in-process under FastAPI's dependency solving.

``LeanDispatch`` then skips the layers every other route passes (Starlette's error, exception
and exit-stack middleware, FastAPI's telemetry and body-limit middleware, the router's walk
through the included routers): a GET whose path a lean route matches is answered by that
route's handler, its errors by ``serving.errors`` (logged, the spec's JSON body) as the
exception handlers would. That took a request's CPU outside the service from 72 to 41 µs
in-process (``benchmarks/RESULTS.md``, ``## bench_serving``).

What a lean endpoint may declare: path parameters, query parameters, ``Request``, and
dependencies of the form ``async def dep(request: Request) -> T``; it must return a
``Response``. Anything else is refused when the route is built.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin, get_type_hints
from urllib.parse import unquote_plus

from fastapi import params
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from serving.deps import check_api_key
from serving.errors import InvalidRequest, error_response, log_error

_PATH, _QUERY, _REQUEST, _DEPENDS = range(4)
_UNSEEN = object()
_SCALARS = (str, int, float, type(None))  # bool is an int
REMEMBERED = 256


@dataclass(frozen=True)
class _Param:
    name: str
    kind: int
    alias: str = ""
    default: Any = None
    adapter: TypeAdapter[Any] | None = None
    dependency: Callable[[Request], Awaitable[Any]] | None = None
    valid: dict[str, Any] = field(default_factory=dict)
    """Raw query values already validated, and their values (scalars only), at most
    ``REMEMBERED`` of them: clients send the same few (``kind=product``, ``n=10``)."""

    def validate(self, raw: str) -> Any:
        """The adapter's value of ``raw`` (``ValidationError`` as it raises it)."""
        value = self.valid.get(raw, _UNSEEN)
        if value is _UNSEEN:
            assert self.adapter is not None
            value = self.adapter.validate_python(raw)
            if isinstance(value, _SCALARS):
                if len(self.valid) >= REMEMBERED:
                    self.valid.clear()
                self.valid[raw] = value
        return value


def query_of(raw: bytes) -> dict[str, str]:
    """The query string as Starlette's ``request.query_params`` reads it (blank values kept,
    the last of repeated names wins), without building a ``QueryParams``: percent-decoding only
    the parts that need it."""
    out: dict[str, str] = {}
    if not raw:
        return out
    for part in raw.decode("latin-1").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in part or "+" in part:
            name, value = _unquote(name), _unquote(value)
        out[name] = value
    return out


_HEX_BYTE = {f"{a}{b}".encode(): bytes([int(a + b, 16)])
             for a in "0123456789abcdefABCDEF" for b in "0123456789abcdefABCDEF"}


def _unquote(text: str) -> str:
    """``unquote_plus(text)``; an ASCII ``text`` without its layers (its regular expression
    split and calls cost more than the rest of the query): ``+`` is a space, ``%XX`` a byte,
    any other ``%`` itself, the bytes read as UTF-8 with replacement."""
    if not text.isascii():
        return unquote_plus(text)
    parts = text.replace("+", " ").encode("ascii").split(b"%")
    out = [parts[0]]
    for part in parts[1:]:
        byte = _HEX_BYTE.get(part[:2])
        out.append(byte + part[2:] if byte is not None else b"%" + part)
    return b"".join(out).decode("utf-8", "replace")


def _describe(error: ValidationError, alias: str) -> str:
    return "; ".join(f"query.{alias}: {item['msg']}" for item in error.errors())


def _params(endpoint: Callable[..., Any], path_names: set[str]) -> list[_Param]:
    hints = get_type_hints(endpoint, include_extras=True)
    out = []
    for name, parameter in inspect.signature(endpoint).parameters.items():
        hint = hints.get(name, str)
        base, metadata = (get_args(hint)[0], get_args(hint)[1:]) if get_origin(
            hint) is Annotated else (hint, ())
        info = next((m for m in metadata if isinstance(m, params.Depends | params.Param)), None)
        if base is Request:
            out.append(_Param(name, _REQUEST))
        elif isinstance(info, params.Depends) and inspect.iscoroutinefunction(info.dependency):
            out.append(_Param(name, _DEPENDS, dependency=info.dependency))
        elif name in path_names and not isinstance(info, params.Query):
            out.append(_Param(name, _PATH))
        elif isinstance(info, params.Query) or info is None:
            default = parameter.default
            if default is inspect.Parameter.empty:
                raise TypeError(f"lean route parameter {name!r} needs a default")
            adapter = TypeAdapter(Annotated[base, info] if info is not None else base)
            alias = (info.alias if info is not None else None) or name
            out.append(_Param(name, _QUERY, alias, default, adapter))
        else:
            raise TypeError(f"lean routes cannot serve parameter {name!r} ({hint!r})")
    return out


class LeanRoute(APIRoute):
    """An API-key protected GET route served without FastAPI's dependency solving."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        endpoint = self.endpoint
        specs = _params(endpoint, set(self.param_convertors))

        async def handler(request: Request) -> Response:
            check_api_key(request)
            query = query_of(request.scope["query_string"])
            kwargs: dict[str, Any] = {}
            problems = []
            for spec in specs:
                if spec.kind == _QUERY:
                    raw = query.get(spec.alias)
                    if raw is None:
                        kwargs[spec.name] = spec.default
                        continue
                    try:
                        kwargs[spec.name] = spec.validate(raw)
                    except ValidationError as exc:
                        problems.append(_describe(exc, spec.alias))
                elif spec.kind == _PATH:
                    kwargs[spec.name] = request.path_params[spec.name]
                elif spec.kind == _REQUEST:
                    kwargs[spec.name] = request
                else:
                    assert spec.dependency is not None
                    kwargs[spec.name] = await spec.dependency(request)
            if problems:
                raise InvalidRequest("; ".join(problems))
            response: Response = await endpoint(**kwargs)
            return response

        return handler


class LeanDispatch:
    """ASGI: a GET a lean route matches is answered here, everything else by ``app`` (the
    Starlette stack). Sets ``scope["route"]`` as the router would (``serving.metrics`` labels by
    it)."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = [(route, route.get_route_handler()) for route in routes
                       if isinstance(route, LeanRoute)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            for route, handler in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child)
                    await _answer(handler, scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _answer(handler: Callable[[Request], Awaitable[Response]], scope: Scope,
                  receive: Receive, send: Send) -> None:
    request = Request(scope, receive)
    try:
        response = await handler(request)
    except Exception as error:  # every error gets the spec's body; a bug's traceback is logged
        log_error(request, error)
        response = error_response(error)
    await response(scope, receive, send)
