"""The events stream -> Parquet, partitioned by date, exactly once; then the stream trimmed.

``EventSink.run`` reads the stream ``Keys.events()`` with a consumer group (created with
``MKSTREAM`` when missing) in batches. Each batch is written as one file per local date (the
configured time zone, ``[rules] timezone``: the same days as ``recsys report ops``)::

    OUT/date=YYYY-MM-DD/part-<first-stream-id-of-the-batch>.parquet

in the canonical event schema, first under a temporary name, fsynced, renamed (atomic) and the
directory fsynced; only THEN are the batch's entries acknowledged, in ONE ``XACK``: a batch is
acknowledged whole or not at all. Events sent without an ``event_id`` get their stream id as
``event_id``.

**Exactly once, whatever the restart's options.** On start the sink claims the entries other
consumers of its group left pending for ``claim_idle_ms`` (a sink restarted under another
``--consumer``), then re-reads the entries delivered to it but never acknowledged (``XREADGROUP
... 0``): the batch a killed sink had read, and maybe written. Such an entry may sit in a file
already, named by the first id of its batch; since a batch is acknowledged whole, that id is
pending too. So before writing a re-read batch the sink deletes every file named by one of its
ids: the events of those files are all pending, and are written again, in this batch or the
next. A restart with another ``--batch`` (or ``--consumer``) writes every event once.

**Trimming.** After each acknowledgement the stream is trimmed (``XTRIM MINID ~``, at most
``TRIM_LIMIT`` entries a call, so never a long stall) below the oldest entry some consumer group
still needs: per group (``XINFO GROUPS``) its oldest pending entry or, with none pending, its last
delivered id. A group that stopped reading holds the stream back, never loses entries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import redis

from storage.connect import SyncClient
from storage.keys import Keys

GROUP = "sink"
CONSUMER = "sink-1"
CLAIM_IDLE_MS = 60_000
"""Entries pending this long for another consumer are taken over (its sink is gone)."""
TRIM_LIMIT = 10_000
"""The most entries one ``XTRIM`` removes."""
SCHEMA = pa.schema([
    ("user_id", pa.string()),
    ("item_id", pa.string()),
    ("event", pa.string()),
    ("timestamp", pa.timestamp("us", tz="UTC")),
    ("rec_id", pa.string()),
    ("event_id", pa.string()),
])
Entry = tuple[str, dict[str, str] | None]


@dataclass
class SinkStats:
    """What one ``run`` did."""

    events: int = 0
    batches: int = 0
    files: list[Path] = field(default_factory=list)
    claimed: int = 0
    """Entries taken over from other consumers."""
    rewritten: int = 0
    """Files of an unacknowledged batch deleted to be written again."""
    trimmed: int = 0
    """Entries trimmed from the stream."""


def to_frame(entries: list[Entry]) -> pd.DataFrame:
    """Stream entries as the canonical events frame (entries without fields are dropped)."""
    kept = [(entry_id, fields) for entry_id, fields in entries if fields]
    frame = pd.DataFrame.from_records([fields for _, fields in kept],
                                      columns=["user_id", "item_id", "event", "timestamp",
                                               "rec_id", "event_id"])
    stream_ids = pd.Series([entry_id for entry_id, _ in kept], dtype=object)
    frame["event_id"] = frame["event_id"].fillna(stream_ids)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True, format="ISO8601")
    frame["stream_id"] = stream_ids
    return frame


def file_name(batch_id: str) -> str:
    """The name of a batch's file in each date directory: ``part-<first stream id>.parquet``."""
    return f"part-{batch_id}.parquet"


def _fsync_directory(directory: Path) -> None:
    handle = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(handle)
    finally:
        os.close(handle)


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file, fsynced, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    _fsync_directory(path.parent)


def write_partitions(frame: pd.DataFrame, out: Path, batch_id: str,
                     timezone: str = "UTC") -> list[Path]:
    """One Parquet file per local date (in ``timezone``) of ``frame``, named by the batch's first
    stream id."""
    paths = []
    dates = frame["timestamp"].dt.tz_convert(timezone).dt.strftime("%Y-%m-%d")
    for day, rows in frame.groupby(dates, sort=True):
        path = out / f"date={day}" / file_name(batch_id)
        columns = {name: rows[name].to_numpy(dtype=object) for name in SCHEMA.names}
        columns["timestamp"] = rows["timestamp"].dt.tz_convert(None).to_numpy()
        table = pa.table({name: pa.array(columns[name], type=SCHEMA.field(name).type,
                                          from_pandas=True)
                          for name in SCHEMA.names})
        write_atomic(table, path)
        paths.append(path)
    return paths


def delete_batches(out: Path, batch_ids: Collection[str]) -> int:
    """Delete the files of the batches that started at one of ``batch_ids``, in every date
    directory under ``out``; how many."""
    names = {file_name(batch_id) for batch_id in batch_ids}
    deleted = 0
    for directory in out.glob("date=*"):
        found = [path for path in directory.iterdir() if path.name in names]
        for path in found:
            path.unlink()
        if found:
            _fsync_directory(directory)
            deleted += len(found)
    return deleted


def _stream_id(value: str) -> tuple[int, int]:
    milliseconds, _, sequence = value.partition("-")
    return int(milliseconds), int(sequence or 0)


class EventSink:
    """Moves events from the stream to Parquet files under ``out``."""

    def __init__(self, client: SyncClient, keys: Keys, out: Path, *, batch: int = 1000,
                 block_ms: int = 2000, group: str = GROUP, consumer: str = CONSUMER,
                 claim_idle_ms: int = CLAIM_IDLE_MS, timezone: str = "UTC",
                 progress: Callable[[SinkStats], None] | None = None) -> None:
        self.client, self.stream, self.out = client, keys.events(), Path(out)
        self.batch, self.block_ms = batch, block_ms
        self.group, self.consumer = group, consumer
        self.claim_idle_ms = claim_idle_ms
        self.timezone = timezone
        self.progress = progress

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless they exist."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim(self) -> int:
        """Take over the entries pending for ``claim_idle_ms`` or more in the group (left by a
        consumer that is gone); how many."""
        claimed, start = 0, "0-0"
        while True:
            cursor, entries, *_ = self.client.xautoclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, start_id=start,
                count=self.batch)
            claimed += len(entries)
            start = _text(cursor)
            if start == "0-0":
                return claimed

    def trim(self) -> int:
        """Trim the entries every consumer group is done with (see the module doc); how many."""
        floor: str | None = None
        for group in self.client.xinfo_groups(self.stream):
            needed = _text(group["last-delivered-id"])
            if group["pending"]:
                needed = _text(self.client.xpending(self.stream, group["name"])["min"])
            if floor is None or _stream_id(needed) < _stream_id(floor):
                floor = needed
        if floor is None or floor == "0-0":
            return 0
        return int(self.client.xtrim(self.stream, minid=floor, approximate=True,
                                     limit=TRIM_LIMIT))

    def _read(self, start: str, block: int | None) -> list[Entry]:
        reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: start},
                                       count=self.batch, block=block)
        if not reply:
            return []
        _, entries = reply[0] if isinstance(reply, list) else next(iter(reply.items()))
        return [(_text(entry_id), _fields(fields)) for entry_id, fields in entries]

    def _store(self, entries: list[Entry], stats: SinkStats, redelivered: bool) -> None:
        ids = [entry_id for entry_id, _ in entries]
        if redelivered:
            stats.rewritten += delete_batches(self.out, ids)
        frame = to_frame(entries)
        if len(frame):
            stats.files += write_partitions(frame, self.out, ids[0], self.timezone)
        self.client.xack(self.stream, self.group, *ids)
        stats.events += len(frame)
        stats.batches += 1
        stats.trimmed += self.trim()
        if self.progress is not None:
            self.progress(stats)

    def run(self, once: bool = False) -> SinkStats:
        """Write the pending entries, then new ones; with ``once``, stop when none is left."""
        self.ensure_group()
        stats = SinkStats(claimed=self.claim())
        while entries := self._read("0", None):
            self._store(entries, stats, redelivered=True)
        while True:
            entries = self._read(">", None if once else self.block_ms)
            if entries:
                self._store(entries, stats, redelivered=False)
            elif once:
                return stats


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(fields: dict | None) -> dict[str, str] | None:
    return {_text(k): _text(v) for k, v in fields.items()} if fields else None
