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

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from recommender.config import SlotConfig
from recommender.lists import RankedList
from recommender.rules import boost
from serving.version import VersionView
from storage.codec import ListView, decode_profile, read_categories, read_list

PERSONALIZED = "personalized"
POPULAR = "popular"
SIMILAR = "similar"
NEW = "new"
NEW_ITEMS = 2
NEW_POSITIONS = (1, 4)

Item = dict[str, object]
_NOTHING: frozenset[int] = frozenset()


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
    if not (purchased or unavailable or exclude):
        return _NOTHING
    repeatable = view.repeatable
    bought = [i for i in view.indices(list(purchased)) if not repeatable[i]]
    return frozenset([*bought, *view.indices(list(unavailable)), *view.indices(list(exclude))])


def _take(
    view: VersionView,
    request: Request,
    items: Sequence[int],
    score: Callable[[int], float],
    reason: Callable[[int], str],
    skip: set[int],
    limit: int,
) -> list[Item]:
    """Walk a ranked list, keeping allowed items not in ``skip`` (updated) up to ``limit``.

    ``score(position)`` and ``reason(position)`` are asked for the kept items only.
    """
    out: list[Item] = []
    if limit <= 0:
        return out
    blocked, category, kind = request.blocked, request.category, request.kind
    category_of, kind_of, ids = view.category_of, view.kind_of, view.item_ids
    for position, item in enumerate(items):
        if item in skip or item in blocked or kind_of[item] != kind:
            continue
        if category is not None and category_of[item] != category:
            continue
        skip.add(item)
        out.append({"item_id": ids[item], "score": round(score(position), 4),
                    "reason": reason(position)})
        if len(out) == limit:
            break
    return out


def _take_list(view: VersionView, request: Request, ranked: ListView, reason: str,
               skip: set[int], limit: int) -> list[Item]:
    """``_take`` over an encoded list with one reason: the path of most requests, inlined."""
    out: list[Item] = []
    blocked, category, kind = request.blocked, request.category, request.kind
    category_of, kind_of, ids = view.category_of, view.kind_of, view.item_ids
    levels, lo, step = ranked.levels, ranked.lo, ranked.step
    for position, item in enumerate(ranked.items):
        if item in skip or item in blocked or kind_of[item] != kind:
            continue
        if category is not None and category_of[item] != category:
            continue
        skip.add(item)
        out.append({"item_id": ids[item], "score": round(lo + levels[position] * step, 4),
                    "reason": reason})
        if len(out) == limit:
            break
    return out


def _constant(value: str) -> Callable[[int], str]:
    return lambda position: value


def _ranked(view: VersionView, request: Request, ranked: RankedList, reason: str,
            skip: set[int], limit: int) -> list[Item]:
    return _take(view, request, ranked.items.tolist(), ranked.scores.tolist().__getitem__,
                 _constant(reason), skip, limit)


def popular(view: VersionView, request: Request, skip: set[int] | None = None) -> list[Item]:
    """The popular list of the kind and slot, filtered."""
    ranked = view.popular_list(request.kind, request.slot)
    return _ranked(view, request, ranked, POPULAR, skip if skip is not None else set(), request.n)


def similar(view: VersionView, request: Request, blob: bytes) -> list[Item]:
    """An item's similar-items list (encoded), filtered."""
    return _take_list(view, request, read_list(blob), SIMILAR, set(), request.n)


def _own(view: VersionView, request: Request, own: bytes, slot_blob: bytes | None,
         skip: set[int]) -> list[Item]:
    """The user's list; while a slot is active, its items boosted and the slot list merged in."""
    slot = request.slot
    if slot is None:
        return _take_list(view, request, read_list(own), PERSONALIZED, skip, request.n)
    flags, reason = view.slot_flags[slot.name], f"slot:{slot.name}"
    mine = read_list(own)
    streams = [_stream(mine, flags, False, 1.0, PERSONALIZED),
               _stream(mine, flags, True, slot.boost, reason)]
    if slot_blob:
        streams.append(_stream(read_list(slot_blob), None, True, slot.boost, reason))
    return _take_stream(view, request, heapq.merge(*streams), skip, request.n)


def _stream(ranked: ListView, flags: list[bool] | None, member: bool, factor: float,
            reason: str) -> Iterator[tuple[float, int, str]]:
    """``(-score, item, reason)`` of the list's items in or out of the slot (``flags``), boosted
    by ``factor``: best first, lazily, for ``heapq.merge``."""
    levels, lo, step = ranked.levels, ranked.lo, ranked.step
    for position, item in enumerate(ranked.items):
        if flags is None or flags[item] is member:
            yield -boost(lo + levels[position] * step, factor), item, reason


def _take_stream(view: VersionView, request: Request, stream: Iterable[tuple[float, int, str]],
                 skip: set[int], limit: int) -> list[Item]:
    """``_take`` over merged ``(-score, item, reason)`` triples."""
    out: list[Item] = []
    blocked, category, kind = request.blocked, request.category, request.kind
    category_of, kind_of, ids = view.category_of, view.kind_of, view.item_ids
    for negative, item, reason in stream:
        if item in skip or item in blocked or kind_of[item] != kind:
            continue
        if category is not None and category_of[item] != category:
            continue
        skip.add(item)
        out.append({"item_id": ids[item], "score": round(-negative, 4), "reason": reason})
        if len(out) == limit:
            break
    return out


def _new_items(view: VersionView, request: Request, categories: list[int],
               seen: Callable[[], np.ndarray], skip: set[int]) -> list[int]:
    """Up to ``NEW_ITEMS`` new items from the user's top categories, best category first."""
    picked: list[int] = []
    names = view.manifest.categories
    for code in categories:
        ranked = view.new_items.get(names[code])
        if ranked is None:
            continue
        fresh = ranked.items[~np.isin(ranked.items, seen())]
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
    own: bytes,
    slot_list: bytes | None,
    profile: bytes | None,
) -> list[Item]:
    """A known user's items (see the module docstring), from the encoded lists and profile."""
    skip: set[int] = set()
    out = _own(view, request, own, slot_list, skip)
    seen = _Seen(profile)
    categories = read_categories(profile) if profile and view.new_items else []
    for position, item in zip(NEW_POSITIONS, _new_items(view, request, categories, seen, skip),
                              strict=False):
        at = min(position, len(out))
        score = out[at - 1]["score"] if at > 0 else 1.0
        out.insert(at, {"item_id": view.item_ids[item], "score": score, "reason": NEW})
    del out[request.n :]
    if len(out) < request.n:
        skip.update(seen().tolist())
        ranked = view.popular_list(request.kind, request.slot)
        out += _ranked(view, request, ranked, POPULAR, skip, request.n - len(out))
    return out


class _Seen:
    """A profile's seen items, decoded the first time they are needed."""

    def __init__(self, profile: bytes | None) -> None:
        self.profile = profile
        self.items: np.ndarray | None = None

    def __call__(self) -> np.ndarray:
        if self.items is None:
            self.items = (decode_profile(self.profile).seen if self.profile
                          else np.empty(0, np.int64))
        return self.items
