"""What each route does: one Redis round trip, the ranking, the response body."""

from __future__ import annotations

from recommender.config import SlotConfig
from recommender.rules import parse_instant
from serving import ranking
from serving.errors import InvalidRequest, UnknownItem
from serving.experiments import ABTesting
from serving.metrics import Metrics
from serving.rec_ids import new_rec_id
from serving.version import VersionView
from storage.reader import Store


def slot_at(view: VersionView, at: str | None) -> SlotConfig | None:
    """The slot active at ``at`` (ISO-8601; now if ``None``) in the version's time zone."""
    if at is None:
        return view.clock.active_now()
    try:
        instant = parse_instant(at, view.rules.zone)
    except ValueError:
        raise InvalidRequest(
            f"query.at: expected an ISO-8601 date-time such as 2026-11-21T07:30:00+08:00, "
            f"got {at!r}"
        ) from None
    return view.clock.active(instant)


def _split(values: str | None) -> list[str]:
    return [v.strip() for v in values.split(",") if v.strip()] if values else []


async def recommendations(
    view: VersionView,
    store: Store,
    metrics: Metrics,
    user_id: str,
    kind: str,
    n: int,
    at: str | None,
    category: str | None,
    exclude: str | None,
    ab: ABTesting,
) -> dict[str, object]:
    """A user's items from the live version, or from their variant's version when an A/B
    experiment splits this kind; the impressions are counted and the ``rec_id`` signed."""
    arm = await ab.experiments.arm(user_id, kind)
    if arm is not None:
        view = arm.view
    slot = slot_at(view, at)
    keys, bucket = view.keys, view.user_bucket(user_id)
    # The profile (favourite categories, seen items) serves new items and a short list's fill:
    # read with the lists when the version has new items, else only if the list runs short.
    with_profile = bool(view.new_items)
    hashes = [keys.recs(kind, bucket), *([keys.profile(bucket)] if with_profile else [])]
    if slot is not None and slot.name in view.slot_lists.get(kind, ()):
        hashes.append(keys.slot(kind, slot.name, bucket))
    bundle = await store.bundle(
        user_id, hashes, [store.keys.purchased(user_id), store.keys.unavailable()]
    )
    own = bundle.values[0]
    profile = bundle.values[1] if with_profile else None
    slot_blob = bundle.values[-1] if len(hashes) > 1 + with_profile else None
    purchased, unavailable = bundle.sets
    blocked = ranking.blocked_items(view, purchased, unavailable, _split(exclude))
    request = ranking.Request(kind, n, slot, category or None, blocked)
    fallback = own is None
    if fallback:
        metrics.miss("user")
        metrics.fallback(kind)
        items = ranking.popular(view, request)
    else:
        items = ranking.personalized(view, request, own, slot_blob, profile)
        if len(items) < n and not with_profile:
            profile = (await store.bundle(user_id, [keys.profile(bucket)], [])).values[0]
            items = ranking.personalized(view, request, own, slot_blob, profile)
    experiment, variant = (arm.experiment, arm.variant) if arm is not None else (None, None)
    if arm is not None:
        ab.impressions.add(arm.experiment, arm.variant, user_id, len(items))
    signer = await ab.signer()
    return {
        "user_id": user_id,
        "kind": kind,
        "slot": slot.name if slot else None,
        "items": items,
        "model": view.model,
        "experiment": experiment,
        "variant": variant,
        "rec_id": signer.issue(user_id, view.name, view.version, experiment, variant),
        "fallback": fallback,
    }


async def similar_items(
    view: VersionView, store: Store, metrics: Metrics, item_id: str, n: int
) -> dict[str, object]:
    index = view.index_of.get(item_id)
    if index is None:
        metrics.miss("item")
        raise UnknownItem(f"item {item_id!r} is not in the published catalog")
    bundle = await store.bundle(
        item_id, [view.keys.similar(view.item_bucket(item_id))], [store.keys.unavailable()]
    )
    (raw,), (unavailable,) = bundle.values, bundle.sets
    kind = view.kind_of[index]
    request = ranking.Request(kind, n, None, None, frozenset([index, *view.indices(unavailable)]))
    items = ranking.similar(view, request, raw) if raw else []
    return {
        "item_id": item_id,
        "kind": kind,
        "items": items,
        "model": view.model,
        "experiment": None,
        "variant": None,
        "rec_id": new_rec_id(None, view.name, view.version),
    }


async def popular_items(
    view: VersionView, store: Store, kind: str, n: int, at: str | None
) -> dict[str, object]:
    slot = slot_at(view, at)
    bundle = await store.bundle("", [], [store.keys.unavailable()])
    request = ranking.Request(kind, n, slot, None, frozenset(view.indices(bundle.sets[0])))
    return {
        "kind": kind,
        "slot": slot.name if slot else None,
        "items": ranking.popular(view, request),
        "model": view.model,
        "experiment": None,
        "variant": None,
        "rec_id": new_rec_id(None, view.name, view.version),
    }
