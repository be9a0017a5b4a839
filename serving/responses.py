"""The JSON response class of every route: bytes from orjson, no re-validation."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class OrjsonResponse(JSONResponse):
    """``application/json`` rendered with orjson (fast, native numpy and datetime support).

    A ``JSONResponse`` for FastAPI, so the OpenAPI document declares a route's JSON body by its
    ``response_model`` (a plain ``Response`` class would declare it a string)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)
