"""A/B counting: impressions per experiment, variant and day; events attributed by ``rec_id``.

**Impressions** (one per recommended item shown) are counted in memory by ``Impressions`` and
written in one pipeline about once a second: with the read of the experiments (see
``serving.experiments``) and by a background task of the app, so a recommendation costs no Redis
round trip for counting. Per experiment and UTC day, hash ``Keys.ab_counts`` gets
``impressions:<variant>`` and ``requests:<variant>``; the variant's HyperLogLog ``Keys.ab_users``
gets the user. A worker also writes them at shutdown and before it answers an admin report; one
killed hard loses at most its last second of impressions.

**Events** (``POST /v1/events``) with a ``rec_id``: ``targets`` decides per event what to count,
and ``serving.events.append`` counts it in the same Lua script that appends the event. A genuine,
unexpired ``rec_id`` of an experiment counts ``click``, ``cart`` or ``purchase`` of its variant,
once per experiment, user, item and event type within the attribution window (``SET NX EX`` on
``Keys.ab_seen``). On those event types, a forged, expired or other user's ``rec_id`` is not
attributed and is counted in ``Keys.ab_rejected`` by reason; other event types are not looked at.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from recommender.abtest import VariantCounts
from serving.rec_ids import RecIdSigner, Rejection
from storage.events import Attribution
from storage.keys import Keys, ab_field
from storage.reader import Store

ATTRIBUTED = ("click", "cart", "purchase")
"""The event types counted per variant (others, such as ``view``, are not attributed)."""
IMPRESSIONS = "impressions"
REQUESTS = "requests"
_PFADD_CHUNK = 10_000


def utc_day(when: datetime | None = None) -> str:
    """``YYYY-MM-DD`` of ``when`` (default now) in UTC: the day of an A/B count."""
    return (when or datetime.now(UTC)).astimezone(UTC).date().isoformat()


class Snapshot(NamedTuple):
    """Counts taken from an ``Impressions`` buffer, to be written (or given back on failure)."""

    counts: dict[tuple[str, str], int]
    users: dict[str, set[str]]


class Impressions:
    """The impressions a worker counted and has not written to Redis yet."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._users: dict[str, set[str]] = defaultdict(set)

    def add(self, experiment: str, variant: str, user_id: str, items: int,
            day: str | None = None) -> None:
        """One response of ``items`` items to ``user_id`` in ``variant`` of ``experiment``."""
        counts = self.keys.ab_counts(experiment, day or utc_day())
        self._counts[counts, ab_field(IMPRESSIONS, variant)] += items
        self._counts[counts, ab_field(REQUESTS, variant)] += 1
        self._users[self.keys.ab_users(experiment, variant)].add(user_id)

    def take(self) -> Snapshot:
        """Everything counted so far; the buffer starts again from zero."""
        snapshot = Snapshot(dict(self._counts), dict(self._users))
        self._counts.clear()
        self._users.clear()
        return snapshot

    def restore(self, snapshot: Snapshot) -> None:
        """Give back a snapshot that could not be written."""
        for key, count in snapshot.counts.items():
            self._counts[key] += count
        for key, users in snapshot.users.items():
            self._users[key] |= users

    @staticmethod
    def queue(pipe: Any, snapshot: Snapshot) -> None:
        """Queue the writes of ``snapshot`` on ``pipe`` (HINCRBY and PFADD)."""
        for (key, field), count in snapshot.counts.items():
            pipe.hincrby(key, field, count)
        for key, users in snapshot.users.items():
            members = list(users)
            for start in range(0, len(members), _PFADD_CHUNK):
                pipe.pfadd(key, *members[start : start + _PFADD_CHUNK])

    async def flush(self, store: Store, then: Callable[[Any], None] | None = None) -> list[Any]:
        """Write what is buffered, plus the commands ``then`` queues, in one round trip; the
        replies of ``then``'s commands are returned. On failure the counts are kept."""
        snapshot = self.take()
        written = 0

        def queue(pipe: Any) -> None:
            nonlocal written
            self.queue(pipe, snapshot)
            written = len(pipe)
            if then is not None:
                then(pipe)

        if not snapshot.counts and then is None:
            return []
        try:
            replies = await store.pipeline(queue)
        except BaseException:
            self.restore(snapshot)
            raise
        return replies[written:]


def targets(
    events: Sequence[Any], signer: RecIdSigner, keys: Keys, now: datetime, window_seconds: float
) -> list[Attribution | Rejection | None]:
    """Per event (with ``user_id``, ``item_id``, ``event``, ``rec_id``): a ``Attribution``, the
    ``Rejection`` to count, or ``None`` when there is nothing to count (no ``rec_id``, an event
    type that is not attributed, a plain unsigned id, a response outside experiments)."""
    out: list[Attribution | Rejection | None] = []
    day, seconds = utc_day(now), now.timestamp()
    for event in events:
        if event.rec_id is None or event.event not in ATTRIBUTED:
            out.append(None)
            continue
        payload = signer.verify(event.rec_id, event.user_id, seconds, window_seconds)
        if isinstance(payload, Rejection):
            out.append(None if payload is Rejection.UNSIGNED else payload)
        elif payload.experiment:
            out.append(Attribution(
                keys.ab_seen(payload.experiment, event.event, event.user_id, event.item_id),
                keys.ab_counts(payload.experiment, day),
                ab_field(event.event, payload.variant),
            ))
        else:
            out.append(None)
    return out


def _count(raw: dict[bytes, bytes], field: str) -> int:
    return int(raw.get(field.encode(), 0))


async def read_counts(
    store: Store, experiment: str, variants: Sequence[str], days: Sequence[str],
) -> tuple[dict[str, VariantCounts], dict[str, dict[str, dict[str, int]]], dict[str, int]]:
    """Per variant, the counts summed over ``days``; per day (with counts), variant and metric
    (``impressions``, ``requests``, ``click``, ``cart``, ``purchase``); rejected ``rec_id``s.

    Impressions are raised to at least the clicks and purchases: a click can be written before
    the impression of its response is (impressions are written about once a second).
    """
    keys = store.keys

    def queue(pipe: Any) -> None:
        for day in days:
            pipe.hgetall(keys.ab_counts(experiment, day))
        pipe.hgetall(keys.ab_rejected())

    replies = await store.pipeline(queue)
    per_day_raw, rejected = replies[: len(days)], replies[-1]
    users = await store.cardinalities([keys.ab_users(experiment, v) for v in variants])
    metrics = (IMPRESSIONS, REQUESTS, *ATTRIBUTED)
    per_day = {
        day: {variant: {metric: _count(raw, ab_field(metric, variant)) for metric in metrics}
              for variant in variants}
        for day, raw in zip(days, per_day_raw, strict=True) if raw
    }
    counts = {}
    for variant, reached in zip(variants, users, strict=True):
        total = {metric: sum(_count(raw, ab_field(metric, variant)) for raw in per_day_raw)
                 for metric in metrics}
        counts[variant] = VariantCounts(
            users=int(reached),
            impressions=max(total[IMPRESSIONS], total["click"], total["purchase"]),
            clicks=total["click"], carts=total["cart"], purchases=total["purchase"],
        )
    return counts, per_day, {k.decode(): int(v) for k, v in rejected.items()}
