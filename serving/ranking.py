"""Turning published lists into the items of one response. Pure: no Redis, no I/O.

A known user's list, best first:

1. the user's top-N list of the kind; while a slot is active its items are boosted (score x
   boost) and the user's slot list is merged in, both with reason ``slot:<name>``;
2. items the user must not get are skipped: purchased (unless the category is repeatable),
   unavailable, excluded by the caller, or outside the requested category;
3. up to ``NEW_ITEMS`` new items of the user's favourite categories take places
   ``NEW_POSITIONS`` (reason ``new``), so a new product reaches its regulars on day one;
4. a list still shorter than ``n`` is filled from the popular list (reason ``popular``);
5. with live items (what the user did since the publish, ``recommender.realtime``), the list is
   fused with the session ranking: items similar to the newest live items, each with reason
   ``session`` and ``because`` (the live item that brought it); live items themselves are
   skipped unless their category is repeatable.

An unknown user gets the popular list of the kind and slot (reason ``popular``), fused with the
session ranking when they have live items. Popular lists are fused with trending
(``serving.trending``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from recommender import realtime
from recommender.config import SlotConfig
from recommender.lists import RankedList
from serving import _walk as _walk_c
from serving.version import VersionView
from storage.codec import read_categories, read_seen

PERSONALIZED = "personalized"
POPULAR = "popular"
SIMILAR = "similar"
SESSION = "session"
NEW = "new"
NEW_ITEMS = 2
NEW_POSITIONS = (1, 4)

Item = dict[str, object]
_NOTHING: frozenset[int] = frozenset()


class Request(NamedTuple):
    """What one recommendation request asks for, after parsing (a named tuple: a frozen
    dataclass costs several times more to build, once a request)."""

    kind: str
    n: int
    slot: SlotConfig | None
    category: str | None
    blocked: frozenset[int]
    popular: RankedList
    """The popular list of the kind and slot (with trending, ``serving.trending``)."""


def blocked_items(
    view: VersionView, purchased: Iterable[str], unavailable: Iterable[str], exclude: Iterable[str],
    also: Iterable[int] = (),
) -> frozenset[int]:
    """Indices never to return: purchases outside repeatable categories, unavailable, excluded,
    and the indices ``also``."""
    if not (purchased or unavailable or exclude or also):
        return _NOTHING
    repeatable = view.repeatable
    bought = [i for i in view.indices(list(purchased)) if not repeatable[i]]
    return frozenset([*bought, *also, *view.indices(list(unavailable)),
                      *view.indices(list(exclude))])


def not_again(view: VersionView, recent: Iterable[int]) -> set[int]:
    """The live items (indices) a list moves out of the way: those outside repeatable
    categories."""
    repeatable = view.repeatable
    return {item for item in recent if not repeatable[item]}


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


def _walk(view: VersionView, request: Request, runs: list[_walk_c.RunSpec], skip: set[int],
          limit: int) -> list[Item]:
    """The allowed items of encoded lists (``runs``: ``(blob, flags, member, factor, reason)``)
    merged best first, up to ``limit`` (``serving._walk``, in C: the walk of every request)."""
    return _walk_c.walk(runs, skip, request.blocked, view.kind_of, request.kind,
                        view.category_of, request.category, limit, view.item_ids)


def _constant(value: str) -> Callable[[int], str]:
    return lambda position: value


def _ranked(view: VersionView, request: Request, ranked: RankedList, reason: str,
            skip: set[int], limit: int) -> list[Item]:
    return _take(view, request, ranked.items.tolist(), ranked.scores.tolist().__getitem__,
                 _constant(reason), skip, limit)


def popular(view: VersionView, request: Request, skip: set[int] | None = None) -> list[Item]:
    """The popular list of the kind and slot, filtered."""
    return _ranked(view, request, request.popular, POPULAR, skip if skip is not None else set(),
                   request.n)


def similar(view: VersionView, request: Request, blob: bytes) -> list[Item]:
    """An item's similar-items list (encoded), filtered."""
    return _walk(view, request, [(blob, None, True, 1.0, SIMILAR)], set(), request.n)


def _own(view: VersionView, request: Request, own: bytes, slot_blob: bytes | None,
         skip: set[int]) -> list[Item]:
    """The user's list; while a slot is active, its items boosted and the slot list merged in
    (``recommender.rules.boost``; the merge orders by boosted score, then item, then reason)."""
    slot = request.slot
    if slot is None:
        return _walk(view, request, [(own, None, True, 1.0, PERSONALIZED)], skip, request.n)
    flags, reason = view.slot_flags[slot.name], f"slot:{slot.name}"
    runs = [(own, flags, False, 1.0, PERSONALIZED), (own, flags, True, slot.boost, reason)]
    if slot_blob:
        runs.append((slot_blob, None, True, slot.boost, reason))
    return _walk(view, request, runs, skip, request.n)


def _new_items(view: VersionView, request: Request, categories: list[int],
               seen: Seen, skip: set[int]) -> list[int]:
    """Up to ``NEW_ITEMS`` new items from the user's top categories, best category first, none
    the user had (added to ``skip``)."""
    names, new_items = view.manifest.categories, view.new_item_ids
    candidates = [item for code in categories for item in new_items.get(names[code], ())]
    if not candidates:
        return []
    picked = _walk_c.allowed(candidates, skip, request.blocked, view.kind_of, request.kind,
                             view.category_of, request.category, NEW_ITEMS, seen(), None)
    skip.update(picked)
    return picked


def personalized(
    view: VersionView,
    request: Request,
    own: bytes,
    slot_list: bytes | None,
    profile: bytes | None,
    seen: Seen | None = None,
) -> list[Item]:
    """A known user's items (see the module docstring), from the encoded lists and profile
    (``seen``: its seen items, when the caller reads them too)."""
    skip: set[int] = set()
    out = _own(view, request, own, slot_list, skip)
    seen = seen if seen is not None else Seen(profile)
    categories = read_categories(profile) if profile and view.new_items else []
    for position, item in zip(NEW_POSITIONS, _new_items(view, request, categories, seen, skip),
                              strict=False):
        at = min(position, len(out))
        score = out[at - 1]["score"] if at > 0 else 1.0
        out.insert(at, {"item_id": view.item_ids[item], "score": score, "reason": NEW})
    del out[request.n :]
    if len(out) < request.n:
        skip.update(seen())
        out += _ranked(view, request, request.popular, POPULAR, skip, request.n - len(out))
    return out


def with_session(view: VersionView, request: Request, items: list[Item], recent: list[int],
                 weight: float, n: int, seen: Seen | None = None
                 ) -> tuple[list[Item], bool]:
    """The first ``n`` of ``items`` (a known user's list, or popular for an unknown one) with
    the live items ``recent`` (indices, oldest first) moved out, fused with their session
    ranking with ``weight`` (``recommender.realtime``); the live items moved out only fill a
    list that would be shorter than ``n`` (a small catalog, seen through). Session items skip
    what the user had in training (``seen``, from their profile) outside repeatable categories,
    as their published list does. Also whether the session ranking brought candidates.

    One C call (``serving._walk.with_session``): the session ranking and the fusion are
    ``recommender.realtime``'s, compiled from the same source (``recommender/_rank.h``)."""
    config = view.realtime
    return _walk_c.with_session(
        items, view.index_of, realtime.newest(recent, config), view.neighbours,
        config.session_depth, config.session_offset, config.decay, not_again(view, recent),
        request.blocked, view.kind_of, request.kind, view.category_of, request.category,
        seen() if seen is not None else _NOTHING, view.repeatable, weight, config.offset, n,
        view.item_ids, SESSION)


class Seen:
    """A profile's seen items (the user's items in training), read the first time they are
    needed."""

    def __init__(self, profile: bytes | None) -> None:
        self.profile = profile
        self.items: frozenset[int] | None = None

    def __call__(self) -> frozenset[int]:
        if self.items is None:
            self.items = frozenset(read_seen(self.profile)) if self.profile else frozenset()
        return self.items
