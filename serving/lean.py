"""``LeanRoute``: the read routes the mini-program calls all day, without FastAPI's per-request
dependency solving.

Declared like any route (path and query parameters with ``Path``/``Query``, ``Request``, the
``Context`` dependency, ``responses`` for the docs), so the OpenAPI document is FastAPI's own. At
request time the route does the work itself: it checks the API key, validates the query
parameters present with pydantic adapters built once from the declared annotations (same
constraints, same messages), resolves ``Depends`` on ``async def dep(request)`` functions, and
calls the endpoint. On the recommendations route that saves about 100 µs of the ~340 µs a
request cost in-process under FastAPI's generic machinery (measured with 32 concurrent requests;
see ``benchmarks/RESULTS.md``, ``## bench_serving``, for the HTTP numbers).

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

from serving.deps import check_api_key
from serving.errors import InvalidRequest

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
