"""Writing one namespace to Redis, and flipping the live pointer to it.

Writes are queued and sent in MULTI/EXEC blocks of a few megabytes: each block is applied
whole or not at all, so a key never exists without the expiry it is created with. Every key of a
namespace expires after ``pending_seconds`` until ``make_live`` persists them all, in the same
transaction that points ``{prefix}live`` at the namespace and sets the expiry of the version it
replaces. A publish that dies half-way leaves the live version untouched and its own keys expiring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import redis
from redis.connection import Connection

from recommender.errors import ModelError
from recommender.keys import Keys, VersionKeys

FLUSH_BYTES = 4 << 20


def pack(*args: bytes) -> bytes:
    """One command in the Redis protocol (RESP2)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts += (b"$%d\r\n" % len(arg), arg, b"\r\n")
    return b"".join(parts)


class NamespaceWriter:
    """Queues writes to one namespace and sends them in MULTI/EXEC blocks.

    Commands are packed here (a few times cheaper than the client's generic packing, which
    matters at millions of fields) and sent on one pooled connection of ``client``. Use it as a
    context manager: leaving normally waits for every block, leaving on an error drops the
    connection (what was sent stays, expiring).
    """

    def __init__(
        self, client: redis.Redis, version_keys: VersionKeys, pending_seconds: int
    ) -> None:
        self.client = client
        self.version_keys = version_keys
        self.pending = str(pending_seconds).encode()
        self.keys: set[str] = set()
        self._chunks: list[bytes] = []
        self._commands = 0
        self._queued = 0
        self._in_flight = 0
        self._connection: Connection | None = None

    def _send(self, command: bytes) -> None:
        self._chunks.append(command)
        self._commands += 1
        self._queued += len(command)

    def _created(self, key: str) -> None:
        if key in self.keys:
            return
        members = self.version_keys.members().encode()
        if not self.keys:
            self._send(pack(b"SADD", members, members))
            self._send(pack(b"EXPIRE", members, self.pending))
        self.keys.add(key)
        self._send(pack(b"SADD", members, key.encode()))
        self._send(pack(b"EXPIRE", key.encode(), self.pending))

    def set(self, key: str, value: bytes) -> None:
        self._send(pack(b"SET", key.encode(), value))
        self._created(key)
        self._maybe_flush()

    def hset(self, key: str, fields: Sequence[bytes], values: Sequence[bytes]) -> None:
        """``HSET key field value ...`` in one command (fields as UTF-8 bytes)."""
        if not len(fields):
            return
        encoded = key.encode()
        head = b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%b\r\n" % (2 + 2 * len(fields), len(encoded),
                                                         encoded)
        pairs = b"".join([b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(f), f, len(v), v)
                          for f, v in zip(fields, values, strict=True)])
        self._send(head + pairs)
        self._created(key)
        self._maybe_flush()

    def hset_buckets(
        self,
        key_of: Callable[[int], str],
        buckets: np.ndarray,
        fields: Sequence[bytes],
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

    def _maybe_flush(self) -> None:
        if self._queued >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send the queued commands as one MULTI/EXEC block.

        The replies of a block are read when the next one is sent (or by ``close``), so Redis
        applies a block while the next batch is being computed.
        """
        self._collect()
        if not self._commands:
            return
        payload = [pack(b"MULTI"), *self._chunks, pack(b"EXEC")]
        if self._connection is None:
            self._connection = self.client.connection_pool.get_connection()
        self._connection.send_packed_command(payload)
        self._in_flight = self._commands
        self._chunks, self._commands, self._queued = [], 0, 0

    def _collect(self) -> None:
        """Read and check the replies of the block in flight."""
        if not self._in_flight or self._connection is None:
            return
        for _ in range(self._in_flight + 1):  # +OK for MULTI, +QUEUED for each command
            self._connection.read_response()
        replies = self._connection.read_response()
        self._in_flight = 0
        errors = [reply for reply in replies or () if isinstance(reply, Exception)]
        if replies is None or errors:
            raise redis.ResponseError(f"publish block failed: {errors or 'EXEC aborted'}")

    def close(self) -> None:
        """Send what is queued and wait until Redis has applied every block."""
        self.flush()
        self._collect()
        self._release(self._connection)

    def _release(self, connection: Connection | None, broken: bool = False) -> None:
        if connection is not None:
            if broken:
                connection.disconnect()
            self.client.connection_pool.release(connection)
        self._connection = None

    def __enter__(self) -> NamespaceWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:  # replies may be left unread: drop the connection
            self._release(self._connection, broken=True)
        else:
            self.close()


def make_live(
    client: redis.Redis, keys: Keys, name: str, namespace: str, retain_seconds: int
) -> str | None:
    """Point ``name`` at ``namespace`` in one transaction; returns the namespace it replaced.

    The namespace's keys lose their expiry; those of the replaced version get ``retain_seconds``
    (they stay readable for rollback until then), unless a running A/B experiment serves it
    (``{prefix}pinned``; stopping the experiment sets that expiry). Calling it with an older
    namespace that has not expired yet is a rollback.
    """
    live = keys.live()
    new = keys.version(namespace)
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(live, new.members(), keys.pinned())
                new_keys = pipe.smembers(new.members())
                if not new_keys:
                    raise ModelError(
                        f"published version {namespace!r} is not in Redis (expired or never "
                        "written); publish it again"
                    )
                raw = pipe.hget(live, name)
                previous = raw.decode() if isinstance(raw, bytes) else raw
                old_keys = set()
                if previous and previous != namespace and not pipe.sismember(keys.pinned(),
                                                                             previous):
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
