"""``GET /v1/users/{id}/push``: is a push due for this user now, and with which items?

The decision is ``recommender.push.decide``, the one ``recsys push plan`` runs too. One pipelined
round trip reads what it needs (the user's profile and slot lists, purchases, unavailable items,
recently pushed items, today's count); a second, only when a push is due, records it with
``RECORD_PUSH`` (``storage.push_state``), which re-checks the cap and the no-repeat rule
atomically. A push is recorded when it is returned: the caller sends it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from recommender import push as rules
from recommender.rules import local_date, parse_instant
from serving.errors import InvalidRequest
from serving.rec_ids import new_rec_id
from serving.version import VersionView
from storage import push_state
from storage.codec import decode_list, decode_profile
from storage.reader import Store
from storage.scripts import RECORD_PUSH


def instant_of(view: VersionView, at: str | None) -> datetime:
    """``at`` (ISO-8601; local time without an offset) as UTC, or now."""
    if at is None:
        return datetime.now(UTC)
    try:
        return parse_instant(at, view.rules.zone)
    except ValueError:
        raise InvalidRequest(
            "query.at: expected an ISO-8601 date-time such as 2026-11-21T07:30:00+08:00, "
            f"got {at!r}"
        ) from None


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
               ) -> dict[str, object] | None:
    """The push body, or ``None`` when no push is due (HTTP 204)."""
    instant = instant_of(view, at)
    config = view.manifest.push
    slot = rules.push_slot(instant, view.rules, config)
    if slot is None or config.max_per_user_per_day == 0:
        return None
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
        return None
    items = [item["item_id"] for item in decision.items]
    names, args = push_state.record_call(store.keys, user_id, day, instant, config, items)
    recorded = await store.script(RECORD_PUSH, names, args)
    if recorded != push_state.RECORDED:
        return None
    return {
        "user_id": user_id,
        "slot": slot.name,
        "send_at": instant.astimezone(view.rules.zone).isoformat(),
        "items": decision.items,
        "rec_id": new_rec_id(user_id, view.name, view.version),
        "model": view.model,
    }
