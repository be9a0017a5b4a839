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


def fingerprint(events: pd.DataFrame) -> Fingerprint:
    """Fingerprint of a canonical events frame (vectorized; one hash per row, sorted)."""
    nanos = pd.to_datetime(events["timestamp"], utc=True).dt.as_unit("ns")
    canonical = pd.DataFrame(
        {
            "user_id": events["user_id"].astype("string[pyarrow]"),
            "item_id": events["item_id"].astype("string[pyarrow]"),
            "event": events["event"].astype("string[pyarrow]"),
            "timestamp": nanos.array.asi8,
        }
    )
    row_hashes = np.sort(pd.util.hash_pandas_object(canonical, index=False).to_numpy())
    digest = hashlib.sha256(row_hashes.astype("<u8").tobytes()).hexdigest()
    empty = len(events) == 0
    return Fingerprint(
        rows=len(events),
        users=int(canonical["user_id"].nunique()),
        items=int(canonical["item_id"].nunique()),
        start="" if empty else nanos.min().isoformat(),
        end="" if empty else nanos.max().isoformat(),
        content_hash=digest,
    )
