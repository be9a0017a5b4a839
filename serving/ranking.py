"""Turning published lists into the items of one response. Pure: no Redis, no I/O.

A known user's list, best first:

1. the user's top-N list of the kind; while a slot is active its items are boosted (score x
   boost) and the user's slot list is merged in, both with reason ``slot:<name>``;
2. items the user must not get are skipped: purchased (unless the category is repeatable),
   unavailable, excluded by the caller, or outside the requested category;
3. up to ``NEW_ITEMS`` new items of the user's favourite categories take places
   ``NEW_POSITIONS`` (reason ``new``), so a new product reaches its regulars on day one;
4. a list still shorter than ``n`` is filled from the popular list (reason ``popular``).

An unknown user gets the popular list of the kind and slot (reason ``popular``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from recommender.codec import Profile, RankedList
from recommender.config import SlotConfig
from recommender.rules import boost_scores
from serving.version import VersionView

PERSONALIZED = "personalized"
POPULAR = "popular"
SIMILAR = "similar"
NEW = "new"
NEW_ITEMS = 2
NEW_POSITIONS = (1, 4)

Item = dict[str, object]


@dataclass(frozen=True)
class Request:
    """What one recommendation request asks for, after parsing."""

    kind: str
    n: int
    slot: SlotConfig | None
    category: str | None
    blocked: frozenset[int]


def blocked_items(
    view: VersionView, purchased: Iterable[str], unavailable: Iterable[str], exclude: Iterable[str]
) -> frozenset[int]:
    """Indices never to return: purchases outside repeatable categories, unavailable, excluded."""
    repeatable = view.repeatable
    bought = [i for i in view.indices(list(purchased)) if not repeatable[i]]
    return frozenset([*bought, *view.indices(list(unavailable)), *view.indices(list(exclude))])


def _take(
    view: VersionView,
    request: Request,
    items: list[int],
    scores: list[float],
    reasons: list[str],
    skip: set[int],
    limit: int,
) -> list[Item]:
    """Walk a ranked list, keeping allowed items not in ``skip`` (updated) up to ``limit``."""
    out: list[Item] = []
    if limit <= 0:
        return out
    blocked, category = request.blocked, request.category
    category_of, kind_of, ids = view.category_of, view.kind_of, view.item_ids
    for item, score, reason in zip(items, scores, reasons, strict=True):
        if item in skip or item in blocked or kind_of[item] != request.kind:
            continue
        if category is not None and category_of[item] != category:
            continue
        skip.add(item)
        out.append({"item_id": ids[item], "score": round(score, 4), "reason": reason})
        if len(out) == limit:
            break
    return out


def popular(view: VersionView, request: Request, skip: set[int] | None = None) -> list[Item]:
    """The popular list of the kind and slot, filtered."""
    ranked = view.popular_list(request.kind, request.slot)
    items = ranked.items.tolist()
    return _take(view, request, items, ranked.scores.tolist(), [POPULAR] * len(items),
                 skip if skip is not None else set(), request.n)


def similar(view: VersionView, request: Request, ranked: RankedList) -> list[Item]:
    """An item's similar-items list, filtered."""
    items = ranked.items.tolist()
    return _take(view, request, items, ranked.scores.tolist(), [SIMILAR] * len(items), set(),
                 request.n)


def _merged(view: VersionView, request: Request, own: RankedList, slot_list: RankedList | None
            ) -> tuple[list[int], list[float], list[str]]:
    """The user's list with the active slot's items boosted and the slot list merged in."""
    slot = request.slot
    if slot is None:
        return own.items.tolist(), own.scores.tolist(), [PERSONALIZED] * len(own.items)
    extra = slot_list if slot_list is not None else RankedList(np.empty(0, np.int64), np.empty(0))
    items = np.concatenate([own.items, extra.items])
    member = view.slot_member[slot.name][items]
    scores = boost_scores(np.concatenate([own.scores, extra.scores]), member, slot.boost)
    order = np.argsort(-scores, kind="stable")
    reason = f"slot:{slot.name}"
    reasons = np.where(member, reason, PERSONALIZED)[order]
    return items[order].tolist(), scores[order].tolist(), reasons.tolist()


def _new_items(view: VersionView, request: Request, profile: Profile, skip: set[int]
               ) -> list[int]:
    """Up to ``NEW_ITEMS`` new items from the user's top categories, best category first."""
    picked: list[int] = []
    for code in profile.categories.tolist():
        ranked = view.new_items.get(view.meta["categories"][code])
        if ranked is None:
            continue
        fresh = ranked.items[~np.isin(ranked.items, profile.seen)]
        for item in fresh.tolist():
            if (item in skip or item in request.blocked or view.kind_of[item] != request.kind
                    or (request.category is not None
                        and view.category_of[item] != request.category)):
                continue
            picked.append(item)
            skip.add(item)
            if len(picked) == NEW_ITEMS:
                return picked
    return picked


def personalized(
    view: VersionView,
    request: Request,
    own: RankedList,
    slot_list: RankedList | None,
    profile: Profile | None,
) -> list[Item]:
    """A known user's items (see the module docstring)."""
    items, scores, reasons = _merged(view, request, own, slot_list)
    skip: set[int] = set()
    out = _take(view, request, items, scores, reasons, skip, request.n)
    if profile is not None and len(profile.categories):
        for position, item in zip(NEW_POSITIONS, _new_items(view, request, profile, skip),
                                  strict=False):
            at = min(position, len(out))
            score = out[at - 1]["score"] if at > 0 else 1.0
            out.insert(at, {"item_id": view.item_ids[item], "score": score, "reason": NEW})
        del out[request.n :]
    if len(out) < request.n:
        if profile is not None:
            skip.update(profile.seen.tolist())
        ranked = view.popular_list(request.kind, request.slot)
        fill = ranked.items.tolist()
        out += _take(view, request, fill, ranked.scores.tolist(), [POPULAR] * len(fill), skip,
                     request.n - len(out))
    return out
