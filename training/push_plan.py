"""``recsys push plan``: the push list of one slot and day, for a batch send.

Reads everything from Redis (the live version ``publish`` wrote, and the live push state), decides
per user with ``recommender.push.decide`` exactly as ``GET /v1/users/{id}/push`` does at the
slot's start, and records each planned push with the same ``RECORD_PUSH`` script as
``POST /v1/users/{id}/push``, so that the API and the plan agree (a user planned for breakfast
is not pushed again by the API beyond the daily cap, nor the same items within the no-repeat
window). With ``record=False`` (``--dry-run``) it writes the same lines and records nothing.

Planning the same slot and day again is idempotent: a user whose push was recorded at the slot's
start (by an earlier run) is written again with the items recorded for them, not recorded twice;
the others are planned as usual. So a second run writes the same plan (``rec_id`` aside), and a
run that was interrupted is finished by running it again.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np

from recommender import push as rules
from recommender.errors import ConfigError
from recommender.lists import Profile, RankedList, empty_list
from recommender.rules import slot_start
from storage import push_state
from storage.codec import decode_list, decode_profile
from storage.connect import SyncClient
from storage.keys import Keys, popular_field
from storage.live import LiveVersion, read_live
from storage.scripts import RECORD_PUSH

CHUNK = 500


@dataclass(frozen=True)
class PlanStats:
    """Users read, with affinity, planned now, planned by an earlier run (written again), at the
    daily cap, with no item left."""

    users: int
    affine: int
    planned: int
    again: int
    capped: int
    empty: int


def _profiles(client: SyncClient, version: LiveVersion, slot: str, kinds: list[str]
              ) -> Iterator[tuple[str, bytes, list[bytes]]]:
    """Every user with a profile: id, profile and slot lists (one pipeline per bucket)."""
    for bucket in range(version.manifest.user_buckets):
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(version.keys.profile(bucket))
        for kind in kinds:
            pipe.hgetall(version.keys.slot(kind, slot, bucket))
        profiles, *lists = pipe.execute()
        for user, profile in profiles.items():
            yield user.decode(), profile, [found[user] for found in lists if user in found]


def _catalog(client: SyncClient, keys: Keys, version: LiveVersion, slot: rules.SlotConfig,
             kinds: list[str]) -> rules.SlotCatalog:
    items, manifest = version.items, version.manifest
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(version.keys.new_items())
    pipe.hget(version.keys.popular(), popular_field(rules.popular_kind(kinds), slot.name))
    new_raw, popular_raw = pipe.execute()
    unavailable = client.smembers(keys.unavailable())
    return rules.SlotCatalog(
        slot=slot, push=manifest.push, item_ids=items.column("item_id").to_pylist(),
        category_names=manifest.categories,
        repeatable=np.isin(items.column("category").to_numpy(zero_copy_only=False),
                           manifest.rules.repeatable_categories),
        member=items.column(f"slot:{slot.name}").to_numpy(zero_copy_only=False),
        new_lists=[decode_list(new_raw[c.encode()]) for c in slot.categories
                   if c.encode() in new_raw],
        popular=decode_list(popular_raw) if popular_raw else empty_list(),
        unavailable=frozenset(member.decode() for member in unavailable),
    )


def plan(client: SyncClient, keys: Keys, slot_name: str, day: date,
         write: Callable[[dict[str, Any]], None], model: str | None = None,
         progress: Callable[[int], None] | None = None, record: bool = True) -> PlanStats:
    """Plan the pushes of ``slot_name`` on ``day`` and record them (unless ``record`` is false);
    ``write`` gets each line. ``model``: the model name (default: the default model).

    Raises ``ConfigError`` for an unknown slot (listing the push slots), ``NoLiveModel`` when
    nothing is live for ``model``.
    """
    version = read_live(client, keys, model)
    manifest = version.manifest
    try:
        slot = rules.find_slot(slot_name, manifest.rules)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    at = slot_start(day, slot, manifest.rules.zone)
    kinds = rules.slot_kinds(manifest.slot_lists, slot.name)
    catalog = _catalog(client, keys, version, slot, kinds)
    due = rules.push_slot(at, manifest.rules, manifest.push) is not None
    counts = dict(users=0, affine=0, planned=0, again=0, capped=0, empty=0)
    batch: list[tuple[str, Profile, list[RankedList]]] = []
    if record:
        client.script_load(RECORD_PUSH.source)
    for user, profile_raw, lists in _profiles(client, version, slot.name, kinds):
        counts["users"] += 1
        profile = decode_profile(profile_raw)
        if due and rules.has_affinity(rules.affinity(catalog, profile), manifest.push):
            batch.append((user, profile, [decode_list(blob) for blob in lists]))
        if len(batch) == CHUNK:
            _plan_batch(client, keys, catalog, at, batch, write, counts, record)
            batch.clear()
            if progress is not None:
                progress(counts["users"])
    _plan_batch(client, keys, catalog, at, batch, write, counts, record)
    return PlanStats(**counts)


def _plan_batch(client: SyncClient, keys: Keys, catalog: rules.SlotCatalog, at: Any,
                batch: list[tuple[str, Profile, list[RankedList]]],
                write: Callable[[dict[str, Any]], None], counts: dict[str, int],
                record: bool) -> None:
    """Read the push state of a batch of affine users, decide, record, write."""
    if not batch:
        return
    push, slot = catalog.push, catalog.slot
    day = push_state.day_key(at.date())
    cutoff = rules.no_repeat_cutoff(at, push)
    pipe = client.pipeline(transaction=False)
    for user, _, _ in batch:
        push_state.queue_read(pipe, keys, user, day, cutoff)
    replies = pipe.execute()
    planned: list[tuple[str, list[str]]] = []
    for index, (user, profile, lists) in enumerate(batch):
        counts["affine"] += 1
        reads = replies[push_state.READS * index : push_state.READS * (index + 1)]
        before = push_state.recorded_at(reads, at)
        if before:  # planned by an earlier run of this slot and day
            counts["again"] += 1
            _write(write, user, slot.name, at, rules.in_rank_order(catalog, lists, before))
            continue
        decision = rules.decide(catalog, profile, lists, push_state.parse_read(reads))
        if decision.reason == rules.CAPPED:
            counts["capped"] += 1
        elif not decision.items:
            counts["empty"] += 1
        else:
            planned.append((user, [str(item["item_id"]) for item in decision.items]))
    outcomes = [push_state.RECORDED] * len(planned)
    if record:
        writes = client.pipeline(transaction=False)
        for user, items in planned:
            push_state.queue_record(writes, keys, user, day, at, push, items)
        outcomes = writes.execute()
    for (user, items), outcome in zip(planned, outcomes, strict=True):
        if outcome != push_state.RECORDED:
            counts["capped"] += 1
            continue
        counts["planned"] += 1
        _write(write, user, slot.name, at, items)


def _write(write: Callable[[dict[str, Any]], None], user: str, slot: str, at: Any,
           items: list[str]) -> None:
    write({"user_id": user, "slot": slot, "send_at": at.isoformat(), "items": items,
           "rec_id": secrets.token_hex(16)})
