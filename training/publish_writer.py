"""Writing one namespace to Redis, and flipping the live pointer to it.

Writes are pipelined and sent in MULTI/EXEC blocks of a few megabytes: each block is applied
whole or not at all, so a key never exists without the expiry it is created with. Every key of a
namespace expires after ``pending_seconds`` until ``make_live`` persists them all, in the same
transaction that points ``{prefix}live`` at the namespace and sets the expiry of the version it
replaces. A publish that dies half-way leaves the live version untouched and its own keys expiring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import redis

from recommender.errors import ModelError
from recommender.keys import Keys, VersionKeys

FLUSH_BYTES = 4 << 20


class NamespaceWriter:
    """Queues writes to one namespace and sends them in transactional blocks."""

    def __init__(
        self, client: redis.Redis, version_keys: VersionKeys, pending_seconds: int
    ) -> None:
        self.client = client
        self.version_keys = version_keys
        self.pending_seconds = pending_seconds
        self.keys: set[str] = set()
        self._pipe = client.pipeline(transaction=True)
        self._queued = 0

    def _created(self, key: str) -> None:
        if key in self.keys:
            return
        members = self.version_keys.members()
        if not self.keys:
            self._pipe.sadd(members, members)
            self._pipe.expire(members, self.pending_seconds)
        self.keys.add(key)
        self._pipe.sadd(members, key)
        self._pipe.expire(key, self.pending_seconds)

    def set(self, key: str, value: bytes | str) -> None:
        self._pipe.set(key, value)
        self._created(key)
        self._grow(len(value))

    def hset(self, key: str, fields: Sequence[str], values: Sequence[bytes]) -> None:
        """``HSET key field value ...`` in one command."""
        if not len(fields):
            return
        args: list[object] = [None] * (2 * len(fields))
        args[::2] = fields
        args[1::2] = values
        self._pipe.execute_command("HSET", key, *args)
        self._created(key)
        self._grow(sum(map(len, values)) + 16 * len(fields))

    def hset_buckets(
        self,
        key_of: Callable[[int], str],
        buckets: np.ndarray,
        fields: Sequence[str],
        values: Sequence[bytes],
    ) -> None:
        """Write ``fields[i] -> values[i]`` into hash ``key_of(buckets[i])``.

        ``buckets`` must be sorted (publish walks users and items in bucket order), so each bucket
        is one contiguous run and one command.
        """
        if not len(buckets):
            return
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]]).tolist()
        ends = [*starts[1:], len(buckets)]
        for start, end in zip(starts, ends, strict=True):
            self.hset(key_of(int(buckets[start])), fields[start:end], values[start:end])

    def _grow(self, size: int) -> None:
        self._queued += size
        if self._queued >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if len(self._pipe):
            self._pipe.execute()
        self._queued = 0


def make_live(
    client: redis.Redis, keys: Keys, name: str, namespace: str, retain_seconds: int
) -> str | None:
    """Point ``name`` at ``namespace`` in one transaction; returns the namespace it replaced.

    The namespace's keys lose their expiry; those of the replaced version get ``retain_seconds``
    (they stay readable for rollback until then). Calling it with an older namespace that has
    not expired yet is a rollback.
    """
    live = keys.live()
    new = keys.version(namespace)
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(live, new.members())
                new_keys = pipe.smembers(new.members())
                if not new_keys:
                    raise ModelError(
                        f"published version {namespace!r} is not in Redis (expired or never "
                        "written); publish it again"
                    )
                raw = pipe.hget(live, name)
                previous = raw.decode() if isinstance(raw, bytes) else raw
                old_keys = set()
                if previous and previous != namespace:
                    old_keys = pipe.smembers(keys.version(previous).members())
                pipe.multi()
                pipe.hset(live, name, namespace)
                for key in new_keys:
                    pipe.persist(key)
                for key in old_keys:
                    pipe.expire(key, retain_seconds)
                pipe.execute()
                return previous if previous != namespace else None
            except redis.WatchError:
                continue
