"""What each route does: one Redis round trip, the ranking, the response body."""

from __future__ import annotations

from datetime import datetime

from recommender.config import SlotConfig
from recommender.rules import parse_instant
from serving import ranking
from serving.deps import MAX_EXCLUDE
from serving.errors import InvalidRequest, UnknownItem
from serving.experiments import ABTesting
from serving.metrics import Metrics
from serving.rec_ids import new_rec_id
from serving.version import VersionView
from storage.reader import Store

AT_EXAMPLE = "2026-11-21T07:30:00+08:00"
SHOWN_CATEGORIES = 30
"""An unknown category's message names at most this many of the known ones."""


def instant_at(view: VersionView, at: str) -> datetime:
    """The ``at`` query parameter (ISO-8601; local time in the version's time zone without an
    offset) as an aware UTC datetime, also representable in that zone; else 422."""
    zone = view.rules.zone
    try:
        instant = parse_instant(at, zone)
        instant.astimezone(zone)  # the first and last hours of years 1 and 9999 overflow
    except OverflowError:
        raise InvalidRequest(
            f"query.at: {at!r} is out of range, too close to year 1 or 9999 in the time zone "
            f"{zone.key}; send a date-time such as {AT_EXAMPLE}"
        ) from None
    except ValueError:
        raise InvalidRequest(
            f"query.at: expected an ISO-8601 date-time such as {AT_EXAMPLE}, got {at!r}"
        ) from None
    return instant


def slot_at(view: VersionView, at: str | None) -> SlotConfig | None:
    """The slot active at ``at`` (ISO-8601; now if ``None``) in the version's time zone."""
    if at is None:
        return view.clock.active_now()
    return view.clock.active(instant_at(view, at))


def excluded(values: str | None) -> list[str]:
    """The ids of the ``exclude`` query parameter; 422 beyond ``MAX_EXCLUDE`` of them."""
    ids = [v.strip() for v in values.split(",") if v.strip()] if values else []
    if len(ids) > MAX_EXCLUDE:
        raise InvalidRequest(
            f"query.exclude: at most {MAX_EXCLUDE} item ids, got {len(ids)}; send the ones "
            "the list must not show (e.g. the cart), not every id seen"
        )
    return ids


def category_of(view: VersionView, category: str | None) -> str | None:
    """The ``category`` query parameter (blank: any), checked against the version's
    categories; 422 naming them otherwise."""
    if not category:
        return None
    if category not in view.categories:
        known = view.manifest.categories
        shown = ", ".join(known[:SHOWN_CATEGORIES])
        more = f" and {len(known) - SHOWN_CATEGORIES} more" if len(known) > SHOWN_CATEGORIES else ""
        raise InvalidRequest(
            f"query.category: unknown category {category!r}; the live version has "
            f"{shown or 'no categories'}{more}"
        )
    return category


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
    category, exclude_ids = category_of(view, category), excluded(exclude)
    keys, bucket = view.keys, view.user_bucket(user_id)
    # The profile (favourite categories, seen items) serves new items and a short list's fill:
    # read with the lists when the version has new items, else only if the list runs short.
    with_profile = bool(view.new_items)
    hashes = [keys.recs(kind, bucket), *([keys.profile(bucket)] if with_profile else [])]
    if slot is not None and slot.name in view.slot_lists.get(kind, ()):
        hashes.append(keys.slot(kind, slot.name, bucket))
    bundle = await store.bundle(user_id, hashes, [store.keys.unavailable()],
                                [store.keys.purchased(user_id)])
    own = bundle.values[0]
    profile = bundle.values[1] if with_profile else None
    slot_blob = bundle.values[-1] if len(hashes) > 1 + with_profile else None
    unavailable, purchased = bundle.sets
    blocked = ranking.blocked_items(view, purchased, unavailable, exclude_ids)
    request = ranking.Request(kind, n, slot, category, blocked)
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
