"""A data fingerprint: what a model was trained and evaluated on, in a few comparable numbers.

The content hash covers ``user_id``, ``item_id``, ``event`` and the timestamp (as UTC nanoseconds)
of every row and does not depend on row order, column order, string dtype or timestamp unit, so the
same events read from CSV, Parquet or a directory of Parquet files give the same fingerprint.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from recommender.matrix import EncodedEvents

_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant: mixes the column hashes of a row


@dataclass(frozen=True)
class Fingerprint:
    """Rows, distinct users and items, time range and content hash of an events frame."""

    rows: int
    users: int
    items: int
    start: str
    end: str
    content_hash: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Fingerprint:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})


def fingerprint(events: pd.DataFrame, encoded: EncodedEvents | None = None) -> Fingerprint:
    """Fingerprint of a canonical events frame (vectorized; one hash per row, sorted).

    ``encoded``, if given, is ``EncodedEvents.from_frame(events)``: its codes are reused.
    """
    nanos = timestamp_nanos(events)
    if encoded is None:
        encoded = EncodedEvents.from_frame(events)
    rows = row_hashes(encoded, nanos)
    rows.sort()
    empty = len(events) == 0
    return Fingerprint(
        rows=len(events),
        users=len(encoded.user_ids),
        items=len(encoded.item_ids),
        start="" if empty else time_text(int(nanos.min())),
        end="" if empty else time_text(int(nanos.max())),
        content_hash=hashlib.sha256(sorted_bytes(rows)).hexdigest(),
    )


def timestamp_nanos(events: pd.DataFrame) -> np.ndarray:
    """Each row's timestamp as UTC nanoseconds since the epoch (int64)."""
    return pd.to_datetime(events["timestamp"], utc=True).dt.as_unit("ns").array.asi8


def time_text(nanos: int) -> str:
    """A fingerprint's ``start`` or ``end``: UTC nanoseconds in ISO-8601."""
    return pd.Timestamp(nanos, unit="ns", tz="UTC").isoformat()


def row_hashes(encoded: EncodedEvents, nanos: np.ndarray) -> np.ndarray:
    """One 64-bit hash per row of user, item, event type and time (unsigned; the content hash
    digests them sorted, so it does not depend on row order or on how the rows were split into
    files: ``training.spark.job_data`` hashes each file's rows apart)."""
    # rows = (((user * MIX) ^ item) * MIX ^ kind) * MIX ^ time, computed in place: a job's
    # memory is what costs here (fresh pages are slow on VMs), not the arithmetic.
    rows = _hashes(encoded.user_ids.index)[encoded.users]
    scratch = np.empty_like(rows)
    for hashes, codes in ((_hashes(encoded.item_ids.index), encoded.items),
                          (_hashes(encoded.kind_names), encoded.kinds)):
        rows *= _MIX
        rows ^= np.take(hashes, codes, out=scratch)
    rows *= _MIX
    rows ^= pd.util.hash_array(nanos)
    return rows


def sorted_bytes(rows: np.ndarray) -> memoryview:
    """Sorted row hashes as the bytes the content hash digests (little-endian uint64)."""
    return rows.astype("<u8", copy=False).data


def _hashes(values: pd.Index | list[str]) -> np.ndarray:
    """A 64-bit hash of each distinct text value."""
    return pd.util.hash_array(np.asarray(values, dtype=object))
