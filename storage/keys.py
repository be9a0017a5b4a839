"""Every Redis key name, built in one place (``docs/redis-layout.md`` documents each one).

Keys come in five families, each placed by a Redis Cluster *hash tag* (the part between the first
``{`` and ``}``) so that the keys one operation touches share a hash slot:

- control keys (``{ctl}``): the live pointer, published versions, experiments, pinned versions,
  the signing secret and the unavailable items: small, read together, changed in transactions;
- version keys (``VersionKeys``): everything ``publish`` writes for one model version, under a
  namespace of its own. The version-wide keys share the tag ``{<namespace>}``; the per-user data
  of user bucket ``b`` (lists, slot lists, profile) share ``{<namespace>:u<b>}`` and the similar
  items of item bucket ``b`` ``{<namespace>:i<b>}``, so a version spreads over every shard while
  one user's data stays in one slot;
- per-user live state (``{u:<user_id>}``): purchases since training, push counters;
- the events stream and what its script touches (``{events}``): the stream, ``event_id``
  de-duplication and the A/B counts, so appending a batch stays one atomic script;
- live monitoring (``{mon}``): the console's bounded, expiring counters (``storage.monitoring``),
  counted by one script per batch.

On a single Redis the tags are just characters. Per-user and per-item data are spread over hash
*buckets* (``bucket_of``): a bucket is a Redis hash whose fields are user (or item) ids, so a
version has a bounded number of keys.

Pure string functions: no Redis client here.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recommender.rules import ANY_SLOT

DEFAULT_PREFIX = "recsys:"
PER_BUCKET = 512
"""Target number of users (or items) per hash bucket."""
DEDUPE_SHARDS = 64
"""Sorted sets the accepted ``event_id``s are spread over (``Keys.event_seen``)."""

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF


def bucket_count(n: int, per_bucket: int = PER_BUCKET) -> int:
    """How many buckets hold ``n`` ids at about ``per_bucket`` ids each (at least 1)."""
    return max(1, -(-n // per_bucket))


def bucket_of(identifier: str, buckets: int) -> int:
    """The bucket of one id: 32-bit FNV-1a of its UTF-8 bytes, modulo ``buckets``."""
    h = _FNV_OFFSET
    for byte in identifier.encode("utf-8"):
        h = ((h ^ byte) * _FNV_PRIME) & _MASK32
    return h % buckets


def buckets_of(identifiers: np.ndarray | list[str] | pa.Array, buckets: int) -> np.ndarray:
    """``bucket_of`` for many ids at once, vectorized over the ids (a loop over byte positions)."""
    strings = pa.array(identifiers, type=pa.string())
    if isinstance(strings, pa.ChunkedArray):
        strings = strings.combine_chunks()
    if strings.null_count:
        raise ValueError("ids must not be null")
    binary = pc.cast(strings, pa.large_binary())
    _, offset_buffer, data_buffer = binary.buffers()
    first = binary.offset
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[first : first + len(binary) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer else np.empty(0, np.uint8)
    starts, lengths = offsets[:-1], np.diff(offsets)
    h = np.full(len(lengths), _FNV_OFFSET, dtype=np.uint64)
    for position in range(int(lengths.max(initial=0))):
        live = lengths > position
        byte = data[starts[live] + position].astype(np.uint64)
        h[live] = ((h[live] ^ byte) * np.uint64(_FNV_PRIME)) & np.uint64(_MASK32)
    return (h % np.uint64(buckets)).astype(np.int64)


def check_prefix(prefix: str) -> str:
    """``prefix`` if it can start every key: no braces (they would move the hash tags)."""
    if "{" in prefix or "}" in prefix:
        raise ValueError(f"key prefix {prefix!r} must not contain '{{' or '}}'")
    return prefix


@dataclass(frozen=True)
class Keys:
    """Global key names under ``prefix``."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    # control keys: one slot, changed together in transactions

    def live(self) -> str:
        """Hash: model name -> namespace id of its live version."""
        return f"{self.prefix}{{ctl}}:live"

    def default_model(self) -> str:
        """String: the model name serving uses when none is configured (``RECSYS_MODEL_NAME``)."""
        return f"{self.prefix}{{ctl}}:default"

    def published(self) -> str:
        """Hash: ``published_field(name, version)`` -> namespace of that version's last publish."""
        return f"{self.prefix}{{ctl}}:published"

    def experiments(self) -> str:
        """Hash: experiment name -> its JSON record (variants, versions, kinds, status)."""
        return f"{self.prefix}{{ctl}}:experiments"

    def pinned(self) -> str:
        """Set: namespaces that running experiments serve; going live elsewhere keeps them."""
        return f"{self.prefix}{{ctl}}:pinned"

    def secret(self) -> str:
        """String: the key that signs ``rec_id``s when ``RECSYS_SECRET`` is not set."""
        return f"{self.prefix}{{ctl}}:secret"

    def unavailable(self) -> str:
        """Set: item ids that must not be returned right now (sold out, withdrawn)."""
        return f"{self.prefix}{{ctl}}:unavailable"

    # per-user live state: one slot per user

    def purchased(self, user_id: str) -> str:
        """Sorted set with expiry: item id -> epoch seconds its purchase was recorded; the user's
        most recent purchases (real-time, bounded: ``storage.events``)."""
        return f"{self.prefix}u:{{{user_id}}}:purchased"

    def recent(self, user_id: str) -> str:
        """Sorted set with expiry: item id -> epoch seconds of the user's latest live event on it
        (weight > 0); the user's newest ``realtime.max_items`` within ``realtime.window_hours``
        (``storage.events``), read by recommendations (``recommender.realtime``)."""
        return f"{self.prefix}u:{{{user_id}}}:recent"

    def push_count(self, user_id: str, day: str) -> str:
        """Counter with expiry: pushes sent to the user on the local date ``day`` (YYYY-MM-DD)."""
        return f"{self.prefix}u:{{{user_id}}}:push:{day}"

    def pushed(self, user_id: str) -> str:
        """Sorted set with expiry: item id -> epoch seconds it was last pushed to the user."""
        return f"{self.prefix}u:{{{user_id}}}:pushed"

    # the events stream and what appending touches: one slot

    def events(self) -> str:
        """Stream: every event accepted by ``POST /v1/events`` (read by the Parquet sink)."""
        return f"{self.prefix}{{events}}:stream"

    def event_seen(self, event_id: str) -> str:
        """Sorted set with expiry: the de-duplication shard of ``event_id`` (one of
        ``DEDUPE_SHARDS``, by a hash of the id): accepted ids -> epoch seconds, the newest
        ``storage.events.DEDUPE_PER_SHARD`` kept (idempotency, bounded)."""
        shard = zlib.crc32(event_id.encode("utf-8")) % DEDUPE_SHARDS
        return f"{self.prefix}{{events}}:ids:{shard}"

    def trending(self, hour: int) -> str:
        """Sorted set with expiry: item id -> weighted count of live events in that hour (epoch
        hours), its ``realtime.trending_items`` most counted kept (``storage.events``)."""
        return f"{self.prefix}{{events}}:trend:{hour}"

    def ab_counts(self, experiment: str, day: str) -> str:
        """Hash: ``ab_field(metric, variant)`` -> count, for one experiment and UTC day."""
        return f"{self.prefix}{{events}}:ab:{experiment}:{day}"

    def ab_users(self, experiment: str, variant: str) -> str:
        """HyperLogLog: the users a variant of an experiment recommended to."""
        return f"{self.prefix}{{events}}:ab:{experiment}:users:{variant}"

    def ab_seen(self, experiment: str, event: str, user_id: str, item_id: str) -> str:
        """String with expiry: this user's ``event`` on this item is already attributed.

        User and item are hashed together (BLAKE2b, 12 bytes) so that ids containing ``:``
        cannot collide and the key stays short.
        """
        pair = hashlib.blake2b(f"{user_id}\0{item_id}".encode(), digest_size=12).hexdigest()
        return f"{self.prefix}{{events}}:ab:{experiment}:seen:{event}:{pair}"

    def ab_rejected(self) -> str:
        """Hash: reason (``forged``, ``expired``, ``other_user``) -> events whose ``rec_id`` was
        not attributed for it."""
        return f"{self.prefix}{{events}}:ab:rejected"

    # live monitoring (``storage.monitoring``): one slot, bounded and expiring

    def mon_day(self, day: str) -> str:
        """Hash: ``monitoring_field(...)`` -> count, for one local date (YYYY-MM-DD)."""
        return f"{self.prefix}{{mon}}:day:{day}"

    def mon_users(self, day: str, event: str = "") -> str:
        """HyperLogLog: the users active on a local date (with ``event``: who sent that type)."""
        return f"{self.prefix}{{mon}}:users:{day}" + (f":{event}" if event else "")

    def mon_new(self, day: str) -> str:
        """HyperLogLog: the users first seen on a local date (their ``mon_first`` was set)."""
        return f"{self.prefix}{{mon}}:new:{day}"

    def mon_first(self, user_id: str) -> str:
        """String with expiry: the local date a user was first seen (renewed on each event)."""
        return f"{self.prefix}{{mon}}:first:{user_id}"

    def mon_minute(self, minute: int) -> str:
        """Hash with expiry: event type -> events received in that minute (epoch minutes)."""
        return f"{self.prefix}{{mon}}:minute:{minute}"

    def version(self, namespace: str) -> VersionKeys:
        """The keys of one published version, by its namespace id."""
        return VersionKeys(f"{self.prefix}v:", namespace)


def namespace_id(name: str, version: str, nonce: str) -> str:
    """``products:7:3fa9c1d2``: model name, version and a per-publish nonce."""
    return f"{name}:{version}:{nonce}"


def name_version(namespace: str) -> tuple[str, str]:
    """The model name and version of a ``namespace_id``: ``("products", "7")``."""
    name, version, _nonce = namespace.rsplit(":", 2)
    return name, version


@dataclass(frozen=True)
class VersionKeys:
    """Key names of one published version (``base`` is the prefix and ``v:``)."""

    base: str
    namespace: str

    @property
    def pattern(self) -> str:
        """What every key of the namespace starts with (for SCAN in tests and tools)."""
        return f"{self.base}{{{self.namespace}"

    def _whole(self, name: str) -> str:
        return f"{self.base}{{{self.namespace}}}:{name}"

    def _user(self, bucket: int, name: str) -> str:
        return f"{self.base}{{{self.namespace}:u{bucket}}}:{name}"

    def meta(self) -> str:
        """String: JSON manifest of the version (``storage.manifest.Manifest``)."""
        return self._whole("meta")

    def members(self) -> str:
        """Set: every key of this namespace, itself included (to persist or expire them)."""
        return self._whole("keys")

    def items(self) -> str:
        """String: the item table (Arrow IPC stream); row ``i`` is item index ``i``."""
        return self._whole("items")

    def users(self) -> str:
        """String: the user ids the model knows (Arrow IPC stream)."""
        return self._whole("users")

    def popular(self) -> str:
        """Hash: ``{kind}:{slot}`` -> popular list (``slot`` is a slot name or ``any``)."""
        return self._whole("popular")

    def new_items(self) -> str:
        """Hash: category -> list of new items (recent, little history), newest first."""
        return self._whole("new")

    def recs(self, kind: str, bucket: int) -> str:
        """Hash bucket: user id -> top-N list of ``kind``."""
        return self._user(bucket, f"rec:{kind}")

    def slot(self, kind: str, slot: str, bucket: int) -> str:
        """Hash bucket: user id -> top-N list of the slot's items of ``kind``."""
        return self._user(bucket, f"slot:{kind}:{slot}")

    def profile(self, bucket: int) -> str:
        """Hash bucket: user id -> category affinity and items seen in training."""
        return self._user(bucket, "profile")

    def similar(self, bucket: int) -> str:
        """Hash bucket: item id -> the most similar items of the same kind."""
        return f"{self.base}{{{self.namespace}:i{bucket}}}:similar"

    def session(self, bucket: int) -> str:
        """Hash bucket: item id -> the items whose co-occurrence starts a session ranking, when
        they are not ``similar``'s (``Manifest.session_lists``; ``recommender.models.session``)."""
        return f"{self.base}{{{self.namespace}:i{bucket}}}:session"


def popular_field(kind: str, slot: str = ANY_SLOT) -> str:
    """Field of ``VersionKeys.popular``."""
    return f"{kind}:{slot}"


def published_field(name: str, version: str) -> str:
    """Field of ``Keys.published``: ``products:7``."""
    return f"{name}:{version}"


def ab_field(metric: str, variant: str) -> str:
    """Field of ``Keys.ab_counts``: ``impressions:treatment``, ``click:control``, ..."""
    return f"{metric}:{variant}"
