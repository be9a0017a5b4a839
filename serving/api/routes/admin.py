"""``/v1/admin``: operator routes behind an admin key (``RECSYS_ADMIN_KEYS``).

A missing or unknown key gets 401; a valid API key that is not an admin key gets 403.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field

from serving.deps import API_KEY_HEADER, key_matches
from serving.errors import NotFound, ServingError, Unauthorized
from serving.experiments import ABDep, experiment_report
from serving.responses import OrjsonResponse
from serving.schemas import FORBIDDEN, NOT_FOUND, UNAUTHORIZED, UNAVAILABLE, _error, example

router = APIRouter(prefix="/v1/admin", tags=["admin"])

_admin_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    scheme_name="AdminKey",
    description="One of the keys in RECSYS_ADMIN_KEYS (comma-separated).",
)


class Forbidden(ServingError):
    status, code = 403, "forbidden"


class UnknownExperiment(NotFound):
    code = "unknown_experiment"


async def require_admin_key(
    request: Request, api_key: Annotated[str | None, Security(_admin_key)]
) -> None:
    """401 without a known key, 403 for an API key that is not an admin key."""
    if not api_key:
        raise Unauthorized(f"missing {API_KEY_HEADER} header")
    if key_matches(api_key, request.app.state.admin_keys):
        return
    if key_matches(api_key, request.app.state.api_keys):
        raise Forbidden("this API key may not use /v1/admin; use one of RECSYS_ADMIN_KEYS")
    raise Unauthorized(f"invalid API key in {API_KEY_HEADER}")


class ExperimentReport(BaseModel):
    name: str
    control: str
    metric: Literal["conversion", "ctr"]
    verdict: str
    variants: list[dict[str, Any]] = Field(description="Per variant: counts, rates with 95% "
                                           "intervals, and the comparison with control")
    experiment: dict[str, Any] = Field(description="The experiment as it is defined")
    days: dict[str, dict[str, dict[str, int]]] = Field(
        description="UTC date -> variant -> counts of that day")
    rejected_rec_ids: dict[str, int] = Field(description="Reason -> rec_ids not attributed")


_REPORT_EXAMPLE = {
    "name": "als-vs-bpr", "control": "control", "metric": "conversion",
    "verdict": "treatment converts 12% better, p = 0.003",
    "variants": [{"name": "control", "counts": {"users": 5012, "impressions": 50120,
                                                "clicks": 2506, "carts": 801, "purchases": 401},
                  "ctr": {"value": 0.05, "low": 0.0481, "high": 0.0519},
                  "conversion": {"value": 0.008, "low": 0.0073, "high": 0.0088},
                  "vs_control": {}}],
    "experiment": {"name": "als-vs-bpr", "status": "running", "control": "control",
                   "kinds": ["product"], "started_at": "2026-11-20T08:00:00+00:00",
                   "stopped_at": None,
                   "variants": [{"name": "control", "weight": 50.0, "model": "products",
                                 "version": "3"}]},
    "days": {"2026-11-20": {"control": {"impressions": 50120, "requests": 5012, "click": 2506,
                                        "cart": 801, "purchase": 401}}},
    "rejected_rec_ids": {"forged": 2, "expired": 17},
}


@router.get(
    "/experiments/{name}/report",
    summary="A/B experiment report",
    description="Per variant: users, impressions, clicks, carts, purchases, CTR and conversion "
    "(per impression) with 95% Wilson intervals; against control: relative uplift with its 95% "
    "interval and the two-proportion z-test p-value; a plain-language verdict on `metric`. Also "
    "the experiment, its counts per UTC day and the rec_ids rejected (forged, expired, "
    "other_user) across experiments. Counts are the ones in Redis: each worker writes its "
    "impressions about once a second (this one writes its own first).",
    response_class=OrjsonResponse,
    response_model=ExperimentReport,
    responses={**example(_REPORT_EXAMPLE), **UNAUTHORIZED, **FORBIDDEN,
               404: {**NOT_FOUND[404], **_error(
                   "unknown_experiment", "no experiment 'als-vs-bpr'; see recsys ab list",
                   "No such experiment (or no such route: `not_found`)")},
               **UNAVAILABLE},
)
async def experiment_report_route(
    name: Annotated[str, Path(description="The experiment's name.", examples=["als-vs-bpr"])],
    ab: ABDep,
    metric: Annotated[Literal["conversion", "ctr"], Query(
        description="The metric of the verdict: `conversion` (purchases per impression) or "
        "`ctr` (clicks per impression).")] = "conversion",
) -> OrjsonResponse:
    experiment = await ab.experiment(name)
    if experiment is None:
        raise UnknownExperiment(f"no experiment {name!r}; see recsys ab list")
    await ab.flush()
    body: dict[str, Any] = await experiment_report(
        ab.store, experiment, metric, datetime.now(UTC), ab.window_seconds)
    return OrjsonResponse(body)
