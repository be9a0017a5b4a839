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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Param:
    name: str
    kind: int
    alias: str = ""
    default: Any = None
    adapter: TypeAdapter[Any] | None = None
    dependency: Callable[[Request], Awaitable[Any]] | None = None


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
            name, value = unquote_plus(name), unquote_plus(value)
        out[name] = value
    return out


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
                    assert spec.adapter is not None
                    try:
                        kwargs[spec.name] = spec.adapter.validate_python(raw)
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
