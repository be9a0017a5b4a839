"""Push rules, shared by ``GET /v1/users/{id}/push`` and ``recsys push plan``. Pure: plain data in.

A push is due for a user at an instant when:

1. a slot with ``push = true`` is active (local time in the configured zone) and the instant is
   not in the quiet hours (``push_slot``);
2. the user has affinity to the slot (``slot_affinity`` above ``push.min_affinity``): the share of
   the user's training weight in the slot's categories, or, for slots defined by tags, the share
   of the user's training items that are slot items;
3. fewer than ``max_per_user_per_day`` pushes were sent on that local date;
4. at least one candidate slot item is left once purchased, unavailable and recently pushed
   items (the last ``no_repeat_days``) are removed; up to ``push_items`` are sent (``pick``).

``decide`` applies rules 2-4 to one user; both callers run it. When no push is due, the reason
is one of ``REASONS``. Deciding records nothing: recording a push that was sent (and re-checking
the cap and the no-repeat rule atomically) is the storage layer's (``storage.push_state``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from recommender.config import PushConfig, RulesConfig, SlotConfig
from recommender.data.catalog import KINDS
from recommender.lists import Profile, RankedList
from recommender.rules import active_slot, in_quiet_hours

DAY_SECONDS = 24 * 3600

NO_PUSH_SLOT = "no_push_slot"
QUIET_HOURS = "quiet_hours"
NO_PROFILE = "no_profile"
NO_AFFINITY = "no_affinity"
CAPPED = "capped"
NOTHING_LEFT = "nothing_left"
PUSH = "push"
REASONS = {
    QUIET_HOURS: "the instant is in the quiet hours (push.quiet_hours)",
    NO_PUSH_SLOT: "no slot with push = true is active at the instant",
    CAPPED: "the user got push.max_per_user_per_day pushes on that local date",
    NO_PROFILE: "the published version does not know the user",
    NO_AFFINITY: "the user's history is not in the slot's categories (push.min_affinity)",
    NOTHING_LEFT: "every slot item was bought, seen, is unavailable or was pushed in the last "
                  "push.no_repeat_days days",
}
"""Why no push is due, and what each reason means."""

def slot_kinds(slot_lists: Mapping[str, Collection[str]], slot: str) -> list[str]:
    """The kinds with per-user lists of ``slot`` (a version's ``slot_lists``), in ``KINDS``
    order; the first one's popular list fills a push."""
    return [kind for kind in KINDS if slot in slot_lists.get(kind, ())]


def popular_kind(kinds: Sequence[str]) -> str:
    """Whose popular list fills a push: the first kind with slot lists, else products."""
    return kinds[0] if kinds else KINDS[0]


def push_slot(at: datetime, rules: RulesConfig, push: PushConfig) -> SlotConfig | None:
    """The push slot active at ``at``, or ``None`` (no slot, not a push slot, quiet hours)."""
    slot = active_slot(at, rules)
    if slot is None or not slot.push or in_quiet_hours(at, push, rules.zone):
        return None
    return slot


def no_slot_reason(at: datetime, rules: RulesConfig, push: PushConfig) -> str:
    """Why ``push_slot`` found no slot at ``at``: ``QUIET_HOURS`` or ``NO_PUSH_SLOT``."""
    return QUIET_HOURS if in_quiet_hours(at, push, rules.zone) else NO_PUSH_SLOT


def find_slot(name: str, rules: RulesConfig) -> SlotConfig:
    """The push slot called ``name``; ``ValueError`` listing the push slots otherwise."""
    slots = [slot for slot in rules.slots if slot.push]
    for slot in slots:
        if slot.name == name:
            return slot
    names = ", ".join(slot.name for slot in slots) or "none configured"
    raise ValueError(f"unknown push slot {name!r}; push slots: {names}")


def slot_affinity(categories: Sequence[str], shares: Sequence[float], seen_in_slot: float,
                  slot: SlotConfig) -> float:
    """The user's affinity to ``slot`` in [0, 1].

    ``categories``/``shares`` are the user's top categories and their shares of the user's
    weight; ``seen_in_slot`` is the share of the user's training items that are slot items
    (what counts for slots selected by tags).
    """
    wanted = np.isin(np.asarray(categories, dtype=object), slot.categories)
    by_category = float(np.asarray(shares, dtype=np.float64)[wanted].sum()) if len(wanted) else 0.0
    return by_category if not slot.tags else max(by_category, seen_in_slot)


def has_affinity(affinity: float, push: PushConfig) -> bool:
    return affinity > push.min_affinity


def cap_reached(sent_today: int, push: PushConfig) -> bool:
    return sent_today >= push.max_per_user_per_day


def no_repeat_cutoff(at: datetime, push: PushConfig) -> float:
    """Epoch seconds before which a pushed item may be pushed again."""
    return at.timestamp() - push.no_repeat_days * DAY_SECONDS


def pushed_ttl_seconds(push: PushConfig) -> int:
    """Expiry of a user's pushed-items set: the no-repeat window and a day."""
    return (push.no_repeat_days + 1) * DAY_SECONDS


def pick(items: Sequence[str], scores: Sequence[float], reasons: Sequence[str],
         blocked: Collection[str], n: int) -> list[dict[str, object]]:
    """The first ``n`` distinct items of ranked ``items`` that are not ``blocked``."""
    out: list[dict[str, object]] = []
    taken: set[str] = set()
    for item, score, reason in zip(items, scores, reasons, strict=True):
        if item in blocked or item in taken:
            continue
        taken.add(item)
        out.append({"item_id": item, "score": round(float(score), 4), "reason": reason})
        if len(out) == n:
            break
    return out


def candidates(slot: SlotConfig, item_ids: Sequence[str], slot_lists: Sequence[RankedList],
               new_lists: Sequence[RankedList], popular: RankedList, slot_mask: np.ndarray
               ) -> tuple[list[str], list[float], list[str]]:
    """A user's ranked push candidates: ids, scores and reasons.

    First the user's slot lists (every kind, best score first, reason ``slot:<name>``), then the
    new items of the slot's categories (``new``), then the slot's popular items (``popular``).
    ``slot_mask`` says which item indices are slot items; lists index ``item_ids``.
    """
    parts = [(np.concatenate([r.items for r in slot_lists]) if slot_lists else np.empty(0, int),
              np.concatenate([r.scores for r in slot_lists]) if slot_lists else np.empty(0),
              f"slot:{slot.name}")]
    parts += [(r.items, r.scores, "new") for r in new_lists]
    parts.append((popular.items, popular.scores, "popular"))
    ids: list[str] = []
    scores: list[float] = []
    reasons: list[str] = []
    for index, score, reason in parts:
        order = np.argsort(-score, kind="stable") if reason != "popular" else np.arange(len(index))
        index, score = index[order], score[order]
        keep = slot_mask[index]
        ids += [item_ids[i] for i in index[keep].tolist()]
        scores += score[keep].tolist()
        reasons += [reason] * int(keep.sum())
    return ids, scores, reasons


@dataclass(frozen=True)
class UserState:
    """A user's live push state: purchases since training, items pushed within the no-repeat
    window, pushes sent on the local date."""

    purchased: frozenset[str]
    recent: frozenset[str]
    sent_today: int


@dataclass(frozen=True)
class SlotCatalog:
    """What every user's decision for one slot and version shares. Arrays are per item index:
    ``repeatable`` (a repeatable category), ``member`` (a slot item)."""

    slot: SlotConfig
    push: PushConfig
    item_ids: Sequence[str]
    category_names: Sequence[str]
    repeatable: np.ndarray
    member: np.ndarray
    new_lists: Sequence[RankedList]
    popular: RankedList
    unavailable: frozenset[str]


@dataclass(frozen=True)
class Decision:
    """``items`` to push (empty when none) and why: ``push`` or the reason there is none."""

    items: list[dict[str, object]]
    reason: str


def affinity(catalog: SlotCatalog, profile: Profile) -> float:
    """The user's affinity to the catalog's slot (``slot_affinity`` of a decoded profile)."""
    categories = [catalog.category_names[code] for code in profile.categories.tolist()]
    seen_in_slot = float(catalog.member[profile.seen].mean()) if len(profile.seen) else 0.0
    return slot_affinity(categories, profile.shares, seen_in_slot, catalog.slot)


def blocked(catalog: SlotCatalog, profile: Profile, state: UserState) -> set[str]:
    """Items the user must not be pushed: seen in training or bought since (unless repeatable),
    unavailable, or pushed within the no-repeat window."""
    ids, repeatable = catalog.item_ids, catalog.repeatable
    out = {ids[i] for i in profile.seen.tolist() if not repeatable[i]}
    if state.purchased:
        again = {ids[i] for i in np.flatnonzero(repeatable).tolist()}
        out |= state.purchased - again
    return out | catalog.unavailable | state.recent


def decide(catalog: SlotCatalog, profile: Profile | None, slot_lists: Sequence[RankedList],
           state: UserState) -> Decision:
    """Whether to push to one user now, and which items (rules 2-4 of the module docstring;
    the caller has checked rule 1)."""
    if profile is None:
        return Decision([], NO_PROFILE)
    if not has_affinity(affinity(catalog, profile), catalog.push):
        return Decision([], NO_AFFINITY)
    if cap_reached(state.sent_today, catalog.push):
        return Decision([], CAPPED)
    ids, scores, reasons = candidates(catalog.slot, catalog.item_ids, slot_lists,
                                      catalog.new_lists, catalog.popular, catalog.member)
    items = pick(ids, scores, reasons, blocked(catalog, profile, state), catalog.slot.push_items)
    return Decision(items, PUSH if items else NOTHING_LEFT)


def in_rank_order(catalog: SlotCatalog, slot_lists: Sequence[RankedList],
                  items: Collection[str]) -> list[str]:
    """``items`` in the order ``decide`` ranks the user's candidates (unranked ones last, by id):
    how to list again a push that was recorded as a set."""
    ids, _, _ = candidates(catalog.slot, catalog.item_ids, slot_lists, catalog.new_lists,
                           catalog.popular, catalog.member)
    rank: dict[str, int] = {}
    for position, item in enumerate(ids):
        rank.setdefault(item, position)
    return sorted(items, key=lambda item: (rank.get(item, len(ids)), item))
