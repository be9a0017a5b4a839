"""LeanRoute: what it serves, and what it refuses to serve when the route is built."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote_plus, urlencode

import pytest
from fastapi import APIRouter, Header, Query
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.datastructures import QueryParams
from starlette.responses import Response

from serving.lean import REMEMBERED, LeanRoute, _params, _unquote, query_of
from serving.main import create_app
from serving.settings import load_settings


def test_a_lean_route_refuses_parameters_it_cannot_serve() -> None:
    router = APIRouter(route_class=LeanRoute)
    with pytest.raises(TypeError, match="cannot serve parameter 'agent'"):
        @router.get("/x")
        async def with_header(agent: Annotated[str, Header()]) -> Response:
            return Response()
    with pytest.raises(TypeError, match="'n' needs a default"):
        @router.get("/y")
        async def required_query(n: Annotated[int, Query(ge=1)]) -> Response:
            return Response()


def test_the_docs_still_come_from_the_declared_signature() -> None:
    schema = create_app(load_settings(api_keys="k")).openapi()
    operation = schema["paths"]["/v1/users/{user_id}/recommendations"]["get"]
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [
        ("user_id", "path"), ("kind", "query"), ("n", "query"), ("at", "query"),
        ("category", "query"), ("exclude", "query"),
    ]
    n = next(p for p in operation["parameters"] if p["name"] == "n")
    assert (n["schema"]["minimum"], n["schema"]["maximum"], n["schema"]["default"]) == (1, 100, 10)
    assert operation["security"] == [{"ApiKey": []}]
    example = operation["responses"]["200"]["content"]["application/json"]["example"]
    assert example["items"][0]["reason"] == "slot:breakfast"


@given(st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=6))
def test_the_query_is_read_as_starlette_reads_it(pairs: list[tuple[str, str]]) -> None:
    raw = urlencode(pairs).encode("latin-1")
    assert query_of(raw) == dict(QueryParams(raw))
    assert query_of(b"a=1&a=2&b&&c=%2B+x") == dict(QueryParams(b"a=1&a=2&b&&c=%2B+x"))


@given(st.text(alphabet=st.sampled_from("%+aZ09-_.~é中 fFgG"), max_size=20))
def test_percent_decoding_is_unquote_plus(text: str) -> None:
    """Stray ``%``, bad hex, ``+``, split UTF-8 sequences and non-ASCII text decode as
    ``urllib.parse.unquote_plus`` decodes them (Starlette's decoding)."""
    assert _unquote(text) == unquote_plus(text)
    raw = text.encode("utf-8").decode("latin-1")  # how a raw query's bytes reach query_of
    assert _unquote(raw) == unquote_plus(raw)


def test_a_query_value_is_validated_once_and_what_is_remembered_is_bounded() -> None:
    async def endpoint(n: Annotated[int, Query(ge=1, le=5)] = 1) -> Response:
        return Response()

    (spec,) = _params(endpoint, set())
    assert spec.validate("3") == 3 and spec.validate("3") == 3 and spec.valid == {"3": 3}
    with pytest.raises(ValidationError):  # refused each time, never remembered
        spec.validate("9")
    with pytest.raises(ValidationError):
        spec.validate("9")
    for n in range(REMEMBERED + 50):
        spec.validate("0" * n + "2")
    assert 0 < len(spec.valid) <= REMEMBERED
