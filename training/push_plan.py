"""``recsys push plan``: the push list of one slot and day, for a batch send.

Reads everything from Redis (the live version ``publish`` wrote, and the live push state), applies
the rules of ``recommender.push`` exactly as ``GET /v1/users/{id}/push`` does at the slot's start,
and records each planned push with the same ``RECORD_SCRIPT``, so that the API and the plan agree
(a user planned for breakfast is not pushed again by the API beyond the daily cap, nor the same
items within the no-repeat window).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import redis

from recommender import push as rules
from recommender.codec import RankedList, decode_list, decode_profile
from recommender.config import PushConfig, RulesConfig, SlotConfig
from recommender.errors import ConfigError
from recommender.keys import Keys, VersionKeys, popular_field
from recommender.rules import slot_start

KINDS = ("product", "content")
CHUNK = 500


@dataclass(frozen=True)
class PlanStats:
    users: int
    affine: int
    planned: int
    capped: int
    empty: int


@dataclass(frozen=True)
class _Version:
    keys: VersionKeys
    meta: dict[str, Any]
    rules: RulesConfig
    push: PushConfig
    items: pa.Table


def live_version(client: redis.Redis, keys: Keys, model: str | None) -> _Version:
    """The live version of ``model`` (or the only live model)."""
    live = {k.decode(): v.decode() for k, v in client.hgetall(keys.live()).items()}
    if model is None and len(live) == 1:
        model = next(iter(live))
    if model not in live:
        names = ", ".join(sorted(live)) or "none"
        raise ConfigError(f"no live version of model {model!r} (live: {names}); "
                          "run `recsys publish NAME@ALIAS` or pass --model")
    vkeys = keys.version(live[model])
    meta_raw, items_raw = client.get(vkeys.meta()), client.get(vkeys.items())
    if meta_raw is None or items_raw is None:
        raise ConfigError(f"the live version {live[model]!r} is incomplete; publish again")
    meta = json.loads(meta_raw)
    return _Version(vkeys, meta, RulesConfig.model_validate(meta["rules"]),
                    PushConfig.model_validate(meta.get("push", {})),
                    pa.ipc.open_stream(items_raw).read_all())


def _profiles(client: redis.Redis, version: _Version, slot: SlotConfig, kinds: list[str]
              ) -> Iterator[tuple[str, bytes, list[bytes]]]:
    """Every user with a profile: id, profile and slot lists (one pipeline per bucket)."""
    for bucket in range(int(version.meta["user_buckets"])):
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(version.keys.profile(bucket))
        for kind in kinds:
            pipe.hgetall(version.keys.slot(kind, slot.name, bucket))
        profiles, *lists = pipe.execute()
        for user, profile in profiles.items():
            yield user.decode(), profile, [found[user] for found in lists if user in found]


@dataclass(frozen=True)
class _Context:
    """What every user's decision shares."""

    push: PushConfig
    slot: SlotConfig
    at: datetime
    item_ids: list[str]
    repeatable: np.ndarray
    member: np.ndarray
    new_lists: list[RankedList]
    popular: RankedList
    unavailable: set[str]

    @property
    def repeatable_ids(self) -> set[str]:
        return {self.item_ids[i] for i in np.flatnonzero(self.repeatable).tolist()}


def _context(client: redis.Redis, keys: Keys, version: _Version, slot: SlotConfig, at: datetime,
             kinds: list[str]) -> _Context:
    items = version.items
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(version.keys.new_items())
    pipe.hget(version.keys.popular(), popular_field(kinds[0] if kinds else "product", slot.name))
    pipe.smembers(keys.unavailable())
    new_raw, popular_raw, unavailable = pipe.execute()
    empty = RankedList(np.empty(0, np.int64), np.empty(0))
    return _Context(
        push=version.push, slot=slot, at=at,
        item_ids=items.column("item_id").to_pylist(),
        repeatable=np.isin(items.column("category").to_numpy(zero_copy_only=False),
                           version.rules.repeatable_categories),
        member=items.column(f"slot:{slot.name}").to_numpy(zero_copy_only=False),
        new_lists=[decode_list(new_raw[c.encode()]) for c in slot.categories
                   if c.encode() in new_raw],
        popular=decode_list(popular_raw) if popular_raw else empty,
        unavailable={member.decode() for member in unavailable},
    )


def plan(client: redis.Redis, keys: Keys, slot_name: str, day: date,
         write: Callable[[dict[str, Any]], None], model: str | None = None,
         progress: Callable[[int], None] | None = None) -> PlanStats:
    """Plan (and record) the pushes of ``slot_name`` on ``day``; ``write`` gets each line.

    Raises ``ConfigError`` for an unknown slot (listing the push slots) or no live version.
    """
    version = live_version(client, keys, model)
    try:
        slot = rules.find_slot(slot_name, version.rules)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    at = slot_start(day, slot, version.rules.zone)
    kinds = [k for k in KINDS if slot.name in version.meta["slot_lists"].get(k, ())]
    context = _context(client, keys, version, slot, at, kinds)
    names = version.meta["categories"]
    due = rules.push_slot(at, version.rules, version.push) is not None
    counts = dict(users=0, affine=0, planned=0, capped=0, empty=0)
    batch: list[tuple[str, list[bytes], np.ndarray]] = []
    for user, profile_raw, lists in _profiles(client, version, slot, kinds):
        counts["users"] += 1
        profile = decode_profile(profile_raw)
        member = context.member
        seen_in_slot = float(member[profile.seen].mean()) if len(profile.seen) else 0.0
        categories = [names[c] for c in profile.categories.tolist()]
        affinity = rules.slot_affinity(categories, profile.shares, seen_in_slot, slot)
        if due and rules.has_affinity(affinity, version.push):
            batch.append((user, lists, profile.seen))
        if len(batch) == CHUNK:
            _plan_batch(client, keys, context, batch, write, counts)
            batch.clear()
            if progress is not None:
                progress(counts["users"])
    _plan_batch(client, keys, context, batch, write, counts)
    return PlanStats(**counts)


def _plan_batch(client: redis.Redis, keys: Keys, context: _Context,
                batch: list[tuple[str, list[bytes], np.ndarray]],
                write: Callable[[dict[str, Any]], None], counts: dict[str, int]) -> None:
    """Read the push state of a batch of affine users, pick their items, record, write."""
    if not batch:
        return
    push, slot, at, item_ids = context.push, context.slot, context.at, context.item_ids
    day = rules.day_key(at.date())
    cutoff = rules.no_repeat_cutoff(at, push)
    pipe = client.pipeline(transaction=False)
    for user, _, _ in batch:
        pipe.smembers(keys.purchased(user))
        pipe.zrangebyscore(keys.pushed(user), f"({cutoff}", "+inf")
        pipe.get(keys.push_count(user, day))
    state = pipe.execute()
    again = context.repeatable_ids
    planned: list[tuple[str, list[str]]] = []
    for index, (user, lists, seen) in enumerate(batch):
        purchased, recent, count = state[3 * index : 3 * index + 3]
        counts["affine"] += 1
        if rules.cap_reached(int(count or 0), push):
            counts["capped"] += 1
            continue
        blocked = {item_ids[i] for i in seen.tolist() if not context.repeatable[i]}
        blocked |= context.unavailable
        blocked.update(m.decode() for m in recent)
        blocked.update({m.decode() for m in purchased} - again)
        ids, scores, reasons = rules.candidates(slot, item_ids, [decode_list(b) for b in lists],
                                                context.new_lists, context.popular,
                                                context.member)
        items = [i["item_id"] for i in rules.pick(ids, scores, reasons, blocked, slot.push_items)]
        if not items:
            counts["empty"] += 1
            continue
        planned.append((user, items))
    record = client.register_script(rules.RECORD_SCRIPT)
    writes = client.pipeline(transaction=False)
    for user, items in planned:
        record(keys=[keys.push_count(user, day), keys.pushed(user)],
               args=rules.record_args(at, push, items), client=writes)
    for (user, items), outcome in zip(planned, writes.execute(), strict=True):
        if outcome != rules.RECORDED:
            counts["capped"] += 1
            continue
        counts["planned"] += 1
        write({"user_id": user, "slot": slot.name, "send_at": at.isoformat(), "items": items,
               "rec_id": secrets.token_hex(16)})
