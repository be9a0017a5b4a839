"""``/v1/admin``: a user as the service sees them, and the catalog (search, similar items,
availability), for the operator console and scripts.

Behind an admin key in ``X-API-Key`` or a console session (``serving.console.session``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from recommender.push import no_repeat_cutoff
from serving import push as pushes
from serving import service
from serving.api.routes.admin_console import ADMIN_ERRORS
from serving.deps import MAX_N, StoreDep, VersionDep
from serving.errors import UnknownItem
from serving.metrics import Metrics
from serving.schemas import _error
from storage import push_state
from storage.catalog import MAX_RESULTS, Catalog, CatalogCache
from storage.push_state import day_key

router = APIRouter(prefix="/v1/admin", tags=["admin"])

RECENT_EVENTS = 20
"""The most events a user look-up returns."""
STREAM_SCAN = 5000
"""How many of the newest stream entries a user look-up searches for the user's events."""
ID_PATH = {"min_length": 1, "max_length": 256}


class TitledItem(BaseModel):
    item_id: str
    title: str | None
    category: str | None
    score: float | None = None
    reason: str | None = None


class UserEvent(BaseModel):
    timestamp: str
    event: str
    item_id: str
    title: str | None


class KindRecommendations(BaseModel):
    kind: str
    slot: str | None
    fallback: bool = Field(description="Unknown to the model: the popular list")
    model: dict[str, str]
    experiment: str | None
    variant: str | None
    items: list[TitledItem]


class Assignment(BaseModel):
    experiment: str
    variant: str
    kinds: list[str]


class PushState(BaseModel):
    day: str = Field(description="Today, local date")
    sent_today: int
    max_per_day: int
    recently_pushed: list[str] = Field(description="Items pushed within the no-repeat window")
    due_items: list[TitledItem] = Field(description="What GET /v1/users/{id}/push answers now")
    due_slot: str | None
    reason: str | None = Field(description="Why no push is due, when none is")


class UserView(BaseModel):
    user_id: str
    known: bool = Field(description="The live version has a profile of the user")
    recent_events: list[UserEvent] = Field(description=f"Newest first, at most {RECENT_EVENTS}, "
                                           f"among the {STREAM_SCAN} newest events in the stream")
    recommendations: list[KindRecommendations] = Field(
        description="What GET /v1/users/{id}/recommendations answers now, per kind (n=10)")
    experiments: list[Assignment]
    push: PushState


class _Preview:
    """What ``service.recommendations`` needs of ``ABTesting``, counting no impressions: an
    operator's look-up is not a recommendation shown to the user."""

    class _NoImpressions:
        def add(self, *args: Any) -> None:
            """Nothing to count."""

    def __init__(self, ab: Any) -> None:
        self.experiments = ab.experiments
        self.signer = ab.signer
        self.impressions = self._NoImpressions()


async def catalog_of(request: Request, view: VersionDep) -> Catalog:
    """The live version's catalog (cached per version)."""
    state = request.app.state
    cache: CatalogCache | None = getattr(state, "catalogs", None)
    if cache is None:
        cache = state.catalogs = CatalogCache(state.store)
    return await cache.get(view.namespace)


def _titled(catalog: Catalog, item_id: str, score: float | None = None,
            reason: str | None = None) -> TitledItem:
    found = catalog.get(item_id)
    return TitledItem(item_id=item_id, title=found.title if found else None,
                      category=found.category if found else None, score=score, reason=reason)


@router.get("/users/{user_id}", response_model=UserView, summary="Look a user up",
            description="The user's recent events (with titles), what each kind's "
            "recommendations answer now (with reasons and titles; no impression is counted), "
            "their A/B variants and push state.", responses=ADMIN_ERRORS)
async def user_view(
    user_id: Annotated[str, Path(**ID_PATH, description="The user id")],  # type: ignore[call-overload]
    request: Request, store: StoreDep, view: VersionDep,
) -> UserView:
    catalog = await catalog_of(request, view)
    ab = request.app.state.ab
    metrics: Metrics = getattr(request.app.state, "preview_metrics", None) or Metrics()
    request.app.state.preview_metrics = metrics
    preview = _Preview(ab)
    recommendations = []
    for kind in sorted(view.kinds):
        body = await service.recommendations(  # what the route answers, with no impression
            view, store, metrics, user_id, kind, 10, None, None, None,
            preview, getattr(request.app.state, "trending", None))  # type: ignore[arg-type]
        recommendations.append(KindRecommendations(
            kind=kind, slot=body["slot"], fallback=body["fallback"], model=body["model"],
            experiment=body["experiment"], variant=body["variant"],
            items=[_titled(catalog, i["item_id"], i["score"], i["reason"])
                   for i in body["items"]]))  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    day = day_key(now.astimezone(view.rules.zone).date())
    cutoff = no_repeat_cutoff(now, view.manifest.push)
    replies = await store.pipeline(lambda pipe: (
        pipe.xrevrange(store.keys.events(), count=STREAM_SCAN),
        push_state.queue_read(pipe, store.keys, user_id, day, cutoff),
        pipe.hexists(view.keys.profile(view.user_bucket(user_id)), user_id)))
    entries, state, known = replies[0], push_state.parse_read(replies[1:-1]), replies[-1]
    events = []
    for _, fields in entries:
        if fields.get(b"user_id", b"").decode() != user_id:
            continue
        item = fields.get(b"item_id", b"").decode()
        events.append(UserEvent(timestamp=fields.get(b"timestamp", b"").decode(),
                                event=fields.get(b"event", b"").decode(), item_id=item,
                                title=catalog.title(item)))
        if len(events) >= RECENT_EVENTS:
            break
    due, reason = await pushes.push(view, store, user_id, None)
    assignments = [Assignment(experiment=e.name, variant=e.assign(user_id).name,
                              kinds=list(e.kinds)) for e in await ab.experiments.current()]
    return UserView(
        user_id=user_id, known=bool(known), recent_events=events,
        recommendations=recommendations, experiments=assignments,
        push=PushState(
            day=day, sent_today=state.sent_today,
            max_per_day=view.manifest.push.max_per_user_per_day,
            recently_pushed=sorted(state.recent)[:MAX_N],
            due_items=[_titled(catalog, i["item_id"], i["score"], i["reason"])
                       for i in (due or {}).get("items", [])],  # type: ignore[attr-defined]
            due_slot=(due or {}).get("slot"), reason=None if due else reason),
    )


class CatalogItemOut(BaseModel):
    item_id: str
    title: str | None
    kind: str
    category: str
    available: bool = Field(description="Published available and not marked unavailable now")
    marked_unavailable: bool = Field(description="In the unavailable set (sold out, withdrawn)")


class ItemSearch(BaseModel):
    query: str
    total: int = Field(description="Items in the live catalog")
    items: list[CatalogItemOut]


class ItemDetail(BaseModel):
    item: CatalogItemOut
    similar: list[TitledItem] = Field(description="What GET /v1/items/{id}/similar answers (n=10)")


async def _unavailable(store: StoreDep) -> set[str]:
    (members,) = await store.pipeline(lambda pipe: pipe.smembers(store.keys.unavailable()))
    return {member.decode() for member in members}


def _out(item: Any, unavailable: set[str]) -> CatalogItemOut:
    marked = item.item_id in unavailable
    return CatalogItemOut(item_id=item.item_id, title=item.title, kind=item.kind,
                          category=item.category, available=item.available and not marked,
                          marked_unavailable=marked)


@router.get("/items", response_model=ItemSearch, summary="Search the catalog",
            description="Items of the live version whose id or title contains `q` "
            "(case-insensitive; the exact id first).", responses=ADMIN_ERRORS)
async def search_items(
    request: Request, store: StoreDep, view: VersionDep,
    q: Annotated[str, Query(max_length=200, description="Part of an id or title")] = "",
    limit: Annotated[int, Query(ge=1, le=MAX_RESULTS)] = 20,
) -> ItemSearch:
    catalog = await catalog_of(request, view)
    unavailable = await _unavailable(store)
    return ItemSearch(query=q, total=len(catalog),
                      items=[_out(item, unavailable) for item in catalog.search(q, limit)])


ItemPath = Annotated[str, Path(min_length=1, max_length=256, description="An item id")]
UNKNOWN = {404: _error("unknown_item", "item 'p42' is not in the published catalog",
                       "Not in the live catalog")}


@router.get("/items/{item_id}", response_model=ItemDetail, summary="An item and its neighbours",
            responses={**ADMIN_ERRORS, **UNKNOWN})
async def item_detail(item_id: ItemPath, request: Request, store: StoreDep,
                      view: VersionDep) -> ItemDetail:
    catalog = await catalog_of(request, view)
    item = catalog.get(item_id)
    if item is None:
        raise UnknownItem(f"item {item_id!r} is not in the published catalog")
    metrics: Metrics = getattr(request.app.state, "preview_metrics", None) or Metrics()
    request.app.state.preview_metrics = metrics
    similar = await service.similar_items(view, store, metrics, item_id, 10)
    return ItemDetail(item=_out(item, await _unavailable(store)),
                      similar=[_titled(catalog, i["item_id"], i["score"], i["reason"])
                               for i in similar["items"]])  # type: ignore[attr-defined]


class Availability(BaseModel):
    available: bool


@router.post("/items/{item_id}/availability", response_model=CatalogItemOut,
             summary="Mark an item unavailable, or available again",
             description="Adds the item to (or removes it from) the unavailable set: the "
             "next recommendation, similar-items and popular responses leave it out (or may "
             "show it again).", responses={**ADMIN_ERRORS, **UNKNOWN})
async def set_availability(item_id: ItemPath, body: Availability, request: Request,
                           store: StoreDep, view: VersionDep) -> CatalogItemOut:
    catalog = await catalog_of(request, view)
    item = catalog.get(item_id)
    if item is None:
        raise UnknownItem(f"item {item_id!r} is not in the published catalog")
    key = store.keys.unavailable()
    await store.pipeline(lambda pipe: pipe.srem(key, item_id) if body.available
                         else pipe.sadd(key, item_id))
    return _out(item, await _unavailable(store))
