"""Writing one version's namespace to Redis, and flipping the live pointer to it.

Writes are packed here (a few times cheaper than the client's generic packing, which matters at
millions of fields) and sent in pipelined batches of a few megabytes, one connection per Redis
node (one node, or every master of a cluster the namespace's hash tags spread over). A key is
created together with its expiry in one MULTI/EXEC on its own node, so it never exists without
it; every key of a namespace expires after ``pending_seconds`` until ``make_live`` persists them.

Going live (``make_live``): the new namespace's keys are persisted, then ONE transaction on the
control keys points ``Keys.live`` at it (the atomic step: serving reads either the old or the new
version, never half of one), then the replaced version's keys get ``retain_seconds``. A publish
that dies before the pointer moves leaves the live version untouched and its own keys expiring.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import redis
from redis.cluster import RedisCluster
from redis.connection import Connection

from recommender.errors import ModelError
from storage.connect import SyncClient, pack
from storage.keys import Keys, VersionKeys

FLUSH_BYTES = 4 << 20
RETAIN_SECONDS = 7 * 86_400
"""How long a replaced version stays readable (for a rollback) by default."""
_MULTI, _EXEC = pack(b"MULTI"), pack(b"EXEC")


@dataclass
class _Node:
    """What is queued for, and in flight to, one Redis node."""

    client: redis.Redis
    chunks: list[bytes] = field(default_factory=list)
    replies: int = 0
    in_flight: int = 0
    connection: Connection | None = None


class NamespaceWriter:
    """Queues writes to one namespace and sends them per node, pipelined.

    Use it as a context manager: leaving normally waits for every reply, leaving on an error
    drops the connections (what was sent stays, expiring).
    """

    def __init__(self, client: SyncClient, version_keys: VersionKeys,
                 pending_seconds: int) -> None:
        self.client = client
        self.version_keys = version_keys
        self.pending = str(pending_seconds).encode()
        self.keys: set[str] = set()
        self._nodes: dict[str, _Node] = {}
        self._queued = 0

    def _node(self, key: str) -> _Node:
        if isinstance(self.client, RedisCluster):
            found = self.client.get_node_from_key(key)
            name, client = found.name, found.redis_connection
        else:
            name, client = "", self.client
        node = self._nodes.get(name)
        if node is None:
            node = self._nodes[name] = _Node(client)
        return node

    def _send(self, key: str, command: bytes) -> None:
        """Queue ``command`` on ``key``'s node; a new key is created with its expiry."""
        node = self._node(key)
        encoded = key.encode()
        if key in self.keys:
            node.chunks.append(command)
            node.replies += 1
        else:
            self._register(key)
            node.chunks += (_MULTI, command, pack(b"EXPIRE", encoded, self.pending), _EXEC)
            node.replies += 4
        self._queued += len(command)

    def _register(self, key: str) -> None:
        """List ``key`` in the namespace's member set (created with its expiry first)."""
        members = self.version_keys.members()
        node, encoded = self._node(members), members.encode()
        if not self.keys:
            node.chunks += (_MULTI, pack(b"SADD", encoded, encoded),
                            pack(b"EXPIRE", encoded, self.pending), _EXEC)
            node.replies += 4
            self.keys.add(members)
        self.keys.add(key)
        if key != members:
            node.chunks.append(pack(b"SADD", encoded, key.encode()))
            node.replies += 1

    def set(self, key: str, value: bytes) -> None:
        self._send(key, pack(b"SET", key.encode(), value))
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
        self._send(key, head + pairs)
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
        """Send what is queued to every node. The replies of a batch are read when the next one
        is sent (or by ``close``), so Redis applies a batch while the next is being computed."""
        self._collect()
        for node in self._nodes.values():
            if not node.chunks:
                continue
            if node.connection is None:
                node.connection = node.client.connection_pool.get_connection()
            node.connection.send_packed_command(node.chunks)
            node.in_flight, node.chunks, node.replies = node.replies, [], 0
        self._queued = 0

    def _collect(self) -> None:
        """Read and check the replies in flight."""
        errors: list[Any] = []
        for node in self._nodes.values():
            if node.connection is None:
                continue
            for _ in range(node.in_flight):
                try:
                    reply = node.connection.read_response()
                except redis.ResponseError as exc:
                    errors.append(exc)
                    continue
                if isinstance(reply, list):
                    errors += [r for r in reply if isinstance(r, Exception)]
            node.in_flight = 0
        if errors:
            raise redis.ResponseError(f"publish writes failed: {errors[:3]}")

    def close(self) -> None:
        """Send what is queued and wait until Redis has applied all of it."""
        self.flush()
        self._collect()
        self._release()

    def _release(self, broken: bool = False) -> None:
        for node in self._nodes.values():
            if node.connection is not None:
                if broken:
                    node.connection.disconnect()
                node.client.connection_pool.release(node.connection)
                node.connection = None

    def __enter__(self) -> NamespaceWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None:  # replies may be left unread: drop the connections
            self._release(broken=True)
        else:
            self.close()


def namespace_keys(client: SyncClient, keys: Keys, namespace: str) -> set[str]:
    """Every key of a namespace (empty when it expired or was never written)."""
    return {member.decode() for member in client.smembers(keys.version(namespace).members())}


def persist_keys(client: SyncClient, names: Iterable[str]) -> None:
    """Remove the expiry of ``names`` (pipelined; on a cluster, per node)."""
    with client.pipeline(transaction=False) as pipe:
        for key in names:
            pipe.persist(key)
        pipe.execute()


def expire_keys(client: SyncClient, names: Iterable[str], seconds: int) -> None:
    """Give ``names`` an expiry of ``seconds`` (pipelined; on a cluster, per node)."""
    with client.pipeline(transaction=False) as pipe:
        for key in names:
            pipe.expire(key, seconds)
        pipe.execute()


def make_live(
    client: SyncClient, keys: Keys, name: str, namespace: str, retain_seconds: int
) -> str | None:
    """Point ``name`` at ``namespace``; returns the namespace it replaced (see the module doc).

    The replaced version's keys get ``retain_seconds`` (readable for rollback until then) unless
    a running A/B experiment serves it (``Keys.pinned``; stopping the experiment sets that
    expiry). Calling it with an older namespace that has not expired yet is a rollback.

    When no default model is set (``Keys.default_model``, ``storage.live``), the same
    transaction sets it to the model served until now (the only live one), or to ``name`` when
    none or several were live: making another name live never changes what a server without a
    configured model serves.
    """
    new_keys = namespace_keys(client, keys, namespace)
    if new_keys:
        persist_keys(client, new_keys)
    if not new_keys or not client.exists(keys.version(namespace).meta()):
        raise ModelError(f"published version {namespace!r} is not in Redis (expired or never "
                         "written); publish it again")
    live, default = keys.live(), keys.default_model()
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(live, keys.pinned(), default)
                raw = pipe.hget(live, name)
                previous = raw.decode() if isinstance(raw, bytes) else raw
                keep = previous is None or previous == namespace or bool(
                    pipe.sismember(keys.pinned(), previous))
                served = None if pipe.exists(default) else [n.decode() for n in pipe.hkeys(live)]
                pipe.multi()
                pipe.hset(live, name, namespace)
                if served is not None:
                    pipe.set(default, served[0] if len(served) == 1 else name)
                pipe.execute()
                break
            except redis.WatchError:
                continue
    if not keep:
        assert previous is not None
        expire_keys(client, namespace_keys(client, keys, previous), retain_seconds)
    return previous if previous != namespace else None
