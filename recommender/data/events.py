"""``load_events``: behaviour events from CSV, Parquet, JSON Lines or a directory of Parquet."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import pyarrow as pa

from recommender.config import DEFAULT_WEIGHTS
from recommender.data.columns import numbers, one_of, optional_text, required_text, timestamps
from recommender.data.formats import RawTable, read_parts
from recommender.data.validation import Checked, LoadResult, RowChecks, conclude, require_columns

EVENT_COLUMNS = ("user_id", "item_id", "event", "timestamp")
OPTIONAL_TEXT_COLUMNS = ("rec_id", "event_id")
UNKNOWN_EVENT = "unknown event type {value!r}; configure a weight for it"


def load_events(
    path: str | Path,
    *,
    event_types: Collection[str] | None = None,
    skip_invalid: bool = False,
) -> LoadResult:
    """Read and validate an events file, or every ``*.parquet`` file below a directory.

    Parameters
    ----------
    path
        A ``.csv``, ``.parquet``/``.pq`` or ``.jsonl``/``.ndjson``/``.json`` (JSON Lines) file, or
        a directory (hive-style partitions such as ``date=2026-11-20/part-0.parquet`` work; the
        partition values are not read as columns).
    event_types
        The event vocabulary; default: the event types of ``DEFAULT_WEIGHTS``.
    skip_invalid
        Drop bad rows and count them by reason in ``skipped`` instead of rejecting the file.

    Returns
    -------
    LoadResult
        ``frame`` has ``user_id``, ``item_id``, ``event`` (text), ``timestamp`` (UTC) and, when the
        file has them, ``rec_id``, ``event_id`` (text, null when empty) and ``rating`` (float).

    Raises
    ------
    DataError
        Naming the file, row, column, reason and value of the first bad rows and their total.
    """
    vocabulary = frozenset(DEFAULT_WEIGHTS if event_types is None else event_types)
    text_columns = (*EVENT_COLUMNS, *OPTIONAL_TEXT_COLUMNS)
    parts = [_check(raw, vocabulary) for raw in read_parts(path, text_columns, directories=True)]
    table, skipped = conclude(parts, skip_invalid)
    rows_read = sum(part.rows_read for part in parts)
    return LoadResult(table.to_pandas(), str(path), rows_read, dict(skipped))


def _check(raw: RawTable, vocabulary: Collection[str]) -> Checked:
    require_columns(raw, EVENT_COLUMNS)
    table = raw.table
    checks = RowChecks(raw)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: required_text(table[name], checks, name) for name in ("user_id", "item_id", "event")
    }
    one_of(columns["event"], checks, "event", vocabulary, UNKNOWN_EVENT)
    columns["timestamp"] = timestamps(table["timestamp"], checks, "timestamp", required=True)
    for name in OPTIONAL_TEXT_COLUMNS:
        if name in table.column_names:
            columns[name] = optional_text(table[name], checks, name, default=None)
    if "rating" in table.column_names:
        columns["rating"] = numbers(table["rating"], checks, "rating")
    return checks.finish(pa.table(columns))
