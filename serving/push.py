"""``/v1/users/{id}/push``: is a push due for this user now (GET), and recording one sent (POST).

The decision is ``recommender.push.decide``, the one ``recsys push plan`` runs too. GET reads in
one pipelined round trip what it needs (the user's profile and slot lists, purchases, unavailable
items, recently pushed items, today's count) and records nothing: asking twice gives the same
answer. When no push is due, the reason (``recommender.push.REASONS``) goes with the 204.

POST records a push the caller sent with ``RECORD_PUSH`` (``storage.push_state``), which
re-checks the daily cap and the no-repeat rule atomically: of two callers racing for the last
push of the day, one is refused (``PushCapped``, ``PushRepeated``: 409).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np

from recommender import push as rules
from recommender.rules import local_date
from serving.errors import InvalidRequest, ServingError
from serving.rec_ids import new_rec_id
from serving.service import instant_at
from serving.version import VersionView
from storage import push_state
from storage.codec import decode_list, decode_profile
from storage.reader import Store
from storage.scripts import RECORD_PUSH


class PushCapped(ServingError):
    """409: recording the push would exceed ``push.max_per_user_per_day``."""

    status, code = 409, "push_capped"


class PushRepeated(ServingError):
    """409: an item of the push was pushed to the user within ``push.no_repeat_days``."""

    status, code = 409, "push_repeated"


def instant_of(view: VersionView, at: str | None) -> datetime:
    """``at`` as UTC (``serving.service.instant_at``: 422 when it is not a usable date-time),
    or now."""
    return datetime.now(UTC) if at is None else instant_at(view, at)


def slot_catalog(view: VersionView, slot: rules.SlotConfig, unavailable: frozenset[str],
                 kinds: list[str]) -> rules.SlotCatalog:
    """What the push rules need of a version for one slot."""
    return rules.SlotCatalog(
        slot=slot, push=view.manifest.push, item_ids=view.item_ids,
        category_names=view.manifest.categories,
        repeatable=np.asarray(view.repeatable, dtype=bool), member=view.slot_member[slot.name],
        new_lists=[view.new_items[c] for c in slot.categories if c in view.new_items],
        popular=view.popular_list(rules.popular_kind(kinds), slot),
        unavailable=unavailable,
    )


async def push(view: VersionView, store: Store, user_id: str, at: str | None
               ) -> tuple[dict[str, object] | None, str]:
    """The push body and ``recommender.push.PUSH``, or ``None`` (HTTP 204) and the reason no
    push is due. Records nothing."""
    instant = instant_of(view, at)
    config = view.manifest.push
    slot = rules.push_slot(instant, view.rules, config)
    if slot is None:
        return None, rules.no_slot_reason(instant, view.rules, config)
    if config.max_per_user_per_day == 0:
        return None, rules.CAPPED
    keys, bucket = view.keys, view.user_bucket(user_id)
    day = push_state.day_key(local_date(instant, view.rules.zone))
    kinds = rules.slot_kinds(view.slot_lists, slot.name)

    def queue(pipe: Any) -> None:
        pipe.hget(keys.profile(bucket), user_id)
        for kind in kinds:
            pipe.hget(keys.slot(kind, slot.name, bucket), user_id)
        pipe.smembers(store.keys.unavailable())
        push_state.queue_read(pipe, store.keys, user_id, day,
                              rules.no_repeat_cutoff(instant, config))

    replies = await store.pipeline(queue)
    profile, *lists, unavailable = replies[: -push_state.READS]
    state = push_state.parse_read(replies[-push_state.READS :])
    catalog = slot_catalog(view, slot, frozenset(m.decode() for m in unavailable), kinds)
    decision = rules.decide(catalog, decode_profile(profile) if profile else None,
                            [decode_list(blob) for blob in lists if blob], state)
    if not decision.items:
        return None, decision.reason
    return {
        "user_id": user_id,
        "slot": slot.name,
        "send_at": instant.astimezone(view.rules.zone).isoformat(),
        "items": decision.items,
        "rec_id": new_rec_id(user_id, view.name, view.version),
        "model": view.model,
    }, decision.reason


async def record(view: VersionView, store: Store, user_id: str, at: str | None,
                 items: Sequence[str]) -> dict[str, object]:
    """Record that ``items`` were pushed to ``user_id`` at ``at`` (default now): they count
    toward the day's cap and are not pushed again within ``push.no_repeat_days``.

    422 for an item the live version does not know; 409 (``PushCapped``, ``PushRepeated``) when
    the cap or the no-repeat rule refuses, and then nothing is recorded.
    """
    unknown = [item for item in items if item not in view.index_of]
    if unknown:
        raise InvalidRequest(f"body.items: not in the published catalog: "
                             f"{', '.join(map(repr, unknown[:10]))}; record the items a "
                             f"GET of this route returned")
    instant = instant_of(view, at)
    config, zone = view.manifest.push, view.rules.zone
    day = push_state.day_key(local_date(instant, zone))
    sent = list(dict.fromkeys(items))
    names, args = push_state.record_call(store.keys, user_id, day, instant, config, sent)
    outcome = await store.script(RECORD_PUSH, names, args)
    if outcome == push_state.CAPPED:
        raise PushCapped(
            f"user {user_id!r} already got {config.max_per_user_per_day} push(es) on {day} "
            "(push.max_per_user_per_day); nothing was recorded: if it is not sent yet, do not "
            "send it")
    if outcome == push_state.REPEATED:
        raise PushRepeated(
            f"an item of this push was already pushed to user {user_id!r} in the last "
            f"{config.no_repeat_days} days (push.no_repeat_days); nothing was recorded. "
            "A retry of a push that was recorded needs nothing more; otherwise GET this "
            "route again for items that may be pushed")
    return {"user_id": user_id, "items": sent, "sent_at": instant.astimezone(zone).isoformat(),
            "day": day}
