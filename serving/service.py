"""What each route does: one Redis round trip, the ranking, the response body."""

from __future__ import annotations

from datetime import UTC, datetime

from recommender.config import SlotConfig
from recommender.lists import RankedList
from recommender.rules import parse_instant
from serving import ranking
from serving.deps import MAX_EXCLUDE
from serving.errors import InvalidRequest, UnknownItem
from serving.experiments import ABTesting
from serving.metrics import Metrics
from serving.rec_ids import new_rec_id
from serving.trending import Trending
from serving.version import VersionView
from storage.reader import Store

AT_EXAMPLE = "2026-11-21T07:30:00+08:00"
SHOWN_CATEGORIES = 30
"""An unknown category's message names at most this many of the known ones."""


def instant_at(view: VersionView, at: str) -> datetime:
    """The ``at`` query parameter (ISO-8601; local time in the version's time zone without an
    offset) as an aware UTC datetime, also representable in that zone; else 422."""
    return local_at(view, at).astimezone(UTC)


def local_at(view: VersionView, at: str) -> datetime:
    """``instant_at`` in the version's time zone."""
    zone = view.rules.zone
    try:
        # in the zone, where the first and last hours of years 1 and 9999 overflow
        local = parse_instant(at, zone).astimezone(zone)
    except OverflowError:
        raise InvalidRequest(
            f"query.at: {at!r} is out of range, too close to year 1 or 9999 in the time zone "
            f"{zone.key}; send a date-time such as {AT_EXAMPLE}"
        ) from None
    except ValueError:
        raise InvalidRequest(
            f"query.at: expected an ISO-8601 date-time such as {AT_EXAMPLE}, got {at!r}"
        ) from None
    return local


def slot_at(view: VersionView, at: str | None) -> SlotConfig | None:
    """The slot active at ``at`` (ISO-8601; now if ``None``) in the version's time zone."""
    if at is None:
        return view.clock.active_now()
    return view.clock.active_at(local_at(view, at).time())


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


def popular_of(view: VersionView, kind: str, slot: SlotConfig | None,
               trending: Trending | None) -> RankedList:
    """The popular list of ``kind`` and ``slot``: with trending when ``trending`` is given."""
    return trending.popular(view, kind, slot) if trending else view.popular_list(kind, slot)


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
    trending: Trending | None = None,
) -> dict[str, object]:
    """A user's items from the live version, or from their variant's version when an A/B
    experiment splits this kind, with their live items (``ranking.with_session``); the
    impressions are counted and the ``rec_id`` signed."""
    arm = await ab.experiments.arm(user_id, kind)
    if arm is not None:
        view = arm.view
    slot = slot_at(view, at)
    category, exclude_ids = category_of(view, category), excluded(exclude)
    keys, bucket = view.keys, view.user_bucket(user_id)
    # The profile (favourite categories, seen items) serves new items and a short list's fill:
    # read with the lists when the version has new items, else only if the list runs short.
    # (and, with real time on, to keep what the user had in training out of session items)
    with_profile = bool(view.new_items) or view.realtime.enabled
    hashes = [keys.recs(kind, bucket), *([keys.profile(bucket)] if with_profile else [])]
    if slot is not None and slot.name in view.slot_lists.get(kind, ()):
        hashes.append(keys.slot(kind, slot.name, bucket))
    live_on = view.realtime.enabled
    user_sets = [store.keys.purchased(user_id), *([store.keys.recent(user_id)] if live_on else [])]
    bundle = await store.bundle(user_id, hashes, [store.keys.unavailable()], user_sets)
    own = bundle.values[0]
    profile = bundle.values[1] if with_profile else None
    slot_blob = bundle.values[-1] if len(hashes) > 1 + with_profile else None
    unavailable, purchased = bundle.sets[0], bundle.sets[1]
    recent = view.indices(bundle.sets[2]) if live_on else []
    blocked = ranking.blocked_items(view, purchased, unavailable, exclude_ids)
    # with live items, the lists are asked for more: the live ones are moved out of them
    request = ranking.Request(kind, n + len(recent), slot, category, blocked,
                              popular_of(view, kind, slot, trending))
    fallback = own is None
    if fallback:
        metrics.miss("user")
        items = ranking.popular(view, request)
        if recent:
            items, fused = ranking.with_session(view, request, items, recent,
                                                view.realtime.new_user_weight, n)
            fallback = not fused
        if fallback:
            metrics.fallback(kind)
    else:
        seen = ranking.Seen(profile)
        items = ranking.personalized(view, request, own, slot_blob, profile, seen)
        if len(items) < request.n and not with_profile:
            profile = (await store.bundle(user_id, [keys.profile(bucket)], [])).values[0]
            seen = ranking.Seen(profile)
            items = ranking.personalized(view, request, own, slot_blob, profile, seen)
        if recent:
            items, _ = ranking.with_session(view, request, items, recent,
                                            view.realtime.session_weight, n, seen)
    experiment, variant = (arm.experiment, arm.variant) if arm is not None else (None, None)
    if arm is not None:
        ab.impressions.add(arm.experiment, arm.variant, user_id, len(items))
    signer = await ab.signer()
    return {
        "user_id": user_id,
        "kind": kind,
        "slot": slot.name if slot else None,
        "items": view.with_titles(items),
        "model": view.model,
        "experiment": experiment,
        "variant": variant,
        "rec_id": signer.issue(user_id, view.name, view.version, experiment, variant),
        "fallback": fallback,
    }


async def similar_items(
    view: VersionView, store: Store, metrics: Metrics, item_id: str, n: int,
    user_id: str | None = None,
) -> dict[str, object]:
    """An item's similar items; for ``user_id``, without what they bought (outside repeatable
    categories) or looked at since the publish (their live state, read in the same trip)."""
    index = view.index_of.get(item_id)
    if index is None:
        metrics.miss("item")
        raise UnknownItem(f"item {item_id!r} is not in the published catalog")
    user_sets = ([store.keys.purchased(user_id), store.keys.recent(user_id)]
                 if user_id is not None else [])
    bundle = await store.bundle(
        item_id, [view.keys.similar(view.item_bucket(item_id))], [store.keys.unavailable()],
        user_sets)
    (raw,), unavailable = bundle.values, bundle.sets[0]
    purchased, recent = (bundle.sets[1], bundle.sets[2]) if user_id is not None else ([], [])
    blocked = ranking.blocked_items(view, purchased, unavailable, [],
                                    ranking.not_again(view, view.indices(recent)))
    kind = view.kind_of[index]
    request = ranking.Request(kind, n, None, None, blocked | {index},
                              view.popular_list(kind, None))
    items = view.with_titles(ranking.similar(view, request, raw)) if raw else []
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
    view: VersionView, store: Store, kind: str, n: int, at: str | None,
    trending: Trending | None = None,
) -> dict[str, object]:
    slot = slot_at(view, at)
    bundle = await store.bundle("", [], [store.keys.unavailable()])
    request = ranking.Request(kind, n, slot, None, frozenset(view.indices(bundle.sets[0])),
                              popular_of(view, kind, slot, trending))
    return {
        "kind": kind,
        "slot": slot.name if slot else None,
        "items": view.with_titles(ranking.popular(view, request)),
        "model": view.model,
        "experiment": None,
        "variant": None,
        "rec_id": new_rec_id(None, view.name, view.version),
    }
