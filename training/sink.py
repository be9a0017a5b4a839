"""The events stream -> Parquet, partitioned by date, acknowledged only once safely on disk.

``EventSink.run`` reads the stream ``Keys.events()`` with a consumer group (created with
``MKSTREAM`` when missing) in batches. Each batch is written as one file per UTC date::

    OUT/date=YYYY-MM-DD/part-<first-stream-id>-<last-stream-id>.parquet

in the canonical event schema, first under a temporary name, fsynced, renamed (atomic) and the
directory fsynced; only THEN are the batch's entries acknowledged (``XACK``).

On start the sink first re-reads the entries delivered to it but never acknowledged (``XREADGROUP
... 0``): a sink killed mid-batch writes that batch again on restart. Its file names come from the
stream ids, so the re-write replaces the same file with the same content: every event ends up in
Parquet exactly once (as long as ``batch`` is the same across the restart). Events sent without an
``event_id`` get their stream id as ``event_id``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import redis

from storage.keys import Keys

GROUP = "sink"
CONSUMER = "sink-1"
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


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write ``table`` to ``path`` through a temporary file, fsynced, then renamed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        pq.write_table(table, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def write_partitions(frame: pd.DataFrame, out: Path) -> list[Path]:
    """One Parquet file per UTC date of ``frame``, named by its first and last stream ids."""
    paths = []
    dates = frame["timestamp"].dt.strftime("%Y-%m-%d")
    for day, rows in frame.groupby(dates, sort=True):
        path = out / f"date={day}" / (
            f"part-{rows['stream_id'].iloc[0]}-{rows['stream_id'].iloc[-1]}.parquet")
        columns = {name: rows[name].to_numpy(dtype=object) for name in SCHEMA.names}
        columns["timestamp"] = rows["timestamp"].dt.tz_convert(None).to_numpy()
        table = pa.table({name: pa.array(columns[name], type=SCHEMA.field(name).type,
                                          from_pandas=True)
                          for name in SCHEMA.names})
        write_atomic(table, path)
        paths.append(path)
    return paths


class EventSink:
    """Moves events from the stream to Parquet files under ``out``."""

    def __init__(self, client: redis.Redis, keys: Keys, out: Path, *, batch: int = 1000,
                 block_ms: int = 2000, group: str = GROUP, consumer: str = CONSUMER,
                 progress: Callable[[SinkStats], None] | None = None) -> None:
        self.client, self.stream, self.out = client, keys.events(), Path(out)
        self.batch, self.block_ms = batch, block_ms
        self.group, self.consumer = group, consumer
        self.progress = progress

    def ensure_group(self) -> None:
        """Create the consumer group (and the stream) unless they exist."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str, block: int | None) -> list[Entry]:
        reply = self.client.xreadgroup(self.group, self.consumer, {self.stream: start},
                                       count=self.batch, block=block)
        if not reply:
            return []
        _, entries = reply[0] if isinstance(reply, list) else next(iter(reply.items()))
        return [(_text(entry_id), _fields(fields)) for entry_id, fields in entries]

    def _store(self, entries: list[Entry], stats: SinkStats) -> None:
        frame = to_frame(entries)
        if len(frame):
            stats.files += write_partitions(frame, self.out)
        self.client.xack(self.stream, self.group, *[entry_id for entry_id, _ in entries])
        stats.events += len(frame)
        stats.batches += 1
        if self.progress is not None:
            self.progress(stats)

    def run(self, once: bool = False) -> SinkStats:
        """Write the pending entries, then new ones; with ``once``, stop when none is left."""
        self.ensure_group()
        stats = SinkStats()
        while entries := self._read("0", None):
            self._store(entries, stats)
        while True:
            entries = self._read(">", None if once else self.block_ms)
            if entries:
                self._store(entries, stats)
            elif once:
                return stats


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fields(fields: dict | None) -> dict[str, str] | None:
    return {_text(k): _text(v) for k, v in fields.items()} if fields else None
