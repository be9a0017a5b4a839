"""``GET /v1/users/{id}/push``: is a push due for this user now, and with which items?

The rules are ``recommender.push``'s. One pipelined round trip reads what the decision needs (the
user's profile and slot lists, purchases, unavailable items, recently pushed items, today's
count); a second, only when a push is due, records it with ``RECORD_SCRIPT``, which re-checks the
cap and the no-repeat rule atomically. A push is recorded when it is returned: the caller sends it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from recommender import push as rules
from recommender.codec import Profile, decode_list, decode_profile
from recommender.config import PushConfig, SlotConfig
from recommender.rules import local_date, parse_instant
from serving import ranking
from serving.errors import InvalidRequest
from serving.rec_ids import new_rec_id
from serving.store import Store, _unavailable_on_failure
from serving.version import VersionView

KIND_ORDER = ("product", "content")


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


def push_config(view: VersionView) -> PushConfig:
    return PushConfig.model_validate(view.meta.get("push", {}))


def _affinity(view: VersionView, slot: SlotConfig, profile: Profile) -> float:
    names = view.meta["categories"]
    categories = [names[code] for code in profile.categories.tolist()]
    member = view.slot_member[slot.name]
    seen_in_slot = float(member[profile.seen].mean()) if len(profile.seen) else 0.0
    return rules.slot_affinity(categories, profile.shares, seen_in_slot, slot)


async def push(view: VersionView, store: Store, user_id: str, at: str | None
               ) -> dict[str, object] | None:
    """The push body, or ``None`` when no push is due (HTTP 204)."""
    instant = instant_of(view, at)
    config = push_config(view)
    slot = rules.push_slot(instant, view.rules, config)
    if slot is None or config.max_per_user_per_day == 0:
        return None
    keys, bucket = view.keys, view.user_bucket(user_id)
    day = rules.day_key(local_date(instant, view.rules.zone))
    count_key, pushed_key = store.keys.push_count(user_id, day), store.keys.pushed(user_id)
    kinds = [k for k in KIND_ORDER if slot.name in view.slot_lists.get(k, ())]
    async with _unavailable_on_failure():
        pipe = store.client.pipeline(transaction=False)
        pipe.hget(keys.profile(bucket), user_id)
        for kind in kinds:
            pipe.hget(keys.slot(kind, slot.name, bucket), user_id)
        pipe.smembers(store.keys.purchased(user_id))
        pipe.smembers(store.keys.unavailable())
        pipe.zrangebyscore(pushed_key, f"({rules.no_repeat_cutoff(instant, config)}", "+inf")
        pipe.get(count_key)
        profile, *lists, purchased, unavailable, recent, count = await pipe.execute()
    if rules.cap_reached(int(count or 0), config):
        return None
    if profile is None:
        return None
    decoded = decode_profile(profile)
    if not rules.has_affinity(_affinity(view, slot, decoded), config):
        return None
    bought = [member.decode() for member in purchased]
    bought += [view.item_ids[i] for i in decoded.seen.tolist()]
    gone = [member.decode() for member in unavailable]
    blocked = {view.item_ids[i] for i in ranking.blocked_items(view, bought, gone, [])}
    blocked.update(member.decode() for member in recent)
    ids, scores, reasons = rules.candidates(
        slot, view.item_ids, [decode_list(blob) for blob in lists if blob],
        [view.new_items[c] for c in slot.categories if c in view.new_items],
        view.popular_list(kinds[0] if kinds else "product", slot), view.slot_member[slot.name],
    )
    items = rules.pick(ids, scores, reasons, blocked, slot.push_items)
    if not items:
        return None
    args = rules.record_args(instant, config, [item["item_id"] for item in items])
    async with _unavailable_on_failure():
        recorded = await store.client.eval(rules.RECORD_SCRIPT, 2, count_key, pushed_key, *args)
    if recorded != rules.RECORDED:
        return None
    return {
        "user_id": user_id,
        "slot": slot.name,
        "send_at": instant.astimezone(view.rules.zone).isoformat(),
        "items": items,
        "rec_id": new_rec_id(user_id, view.name, view.version),
        "model": view.model,
    }
