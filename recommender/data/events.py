"""``load_events``: behaviour events from CSV, Parquet, JSON Lines or a directory of Parquet.

An ``event_id`` is an idempotency key: a second row with the same ``event_id`` (in the same file or
a later one of a directory) is the same event sent twice, a bad row like any other: the load fails
naming it, or ``skip_invalid`` drops it and counts it. The first row is kept.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recommender.config import DEFAULT_WEIGHTS
from recommender.data.columns import numbers, one_of, optional_text, required_text, timestamps
from recommender.data.formats import RawTable, read_parts
from recommender.data.validation import (
    MAX_LISTED,
    Checked,
    LoadResult,
    RowChecks,
    conclude,
    flag_control_characters,
    require_columns,
)
from recommender.errors import Problem

EVENT_COLUMNS = ("user_id", "item_id", "event", "timestamp")
OPTIONAL_TEXT_COLUMNS = ("rec_id", "event_id")
UNKNOWN_EVENT = "unknown event type {value!r}; configure a weight for it"
DUPLICATE_ID = "duplicate event_id: an earlier row has it (the same event sent twice?)"
_POSITION = "__position"


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
    checked = [_check(raw, vocabulary) for raw in read_parts(path, text_columns, directories=True)]
    parts = drop_duplicate_ids(checked)
    table, skipped = conclude(parts, skip_invalid)
    rows_read = sum(part.rows_read for part in parts)
    return LoadResult(table.to_pandas(), str(path), rows_read, dict(skipped))


def _check(raw: RawTable, vocabulary: Collection[str]) -> tuple[Checked, RawTable]:
    require_columns(raw, EVENT_COLUMNS)
    table = raw.table
    checks = RowChecks(raw)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: required_text(table[name], checks, name) for name in ("user_id", "item_id", "event")
    }
    for name in ("user_id", "item_id"):
        flag_control_characters(columns[name], checks, name)
    one_of(columns["event"], checks, "event", vocabulary, UNKNOWN_EVENT)
    columns["timestamp"] = timestamps(table["timestamp"], checks, "timestamp", required=True)
    for name in OPTIONAL_TEXT_COLUMNS:
        if name in table.column_names:
            columns[name] = optional_text(table[name], checks, name, default=None)
    if "rating" in table.column_names:
        columns["rating"] = numbers(table["rating"], checks, "rating")
    if "event_id" in columns:  # where the rows kept came from, for drop_duplicate_ids
        columns[_POSITION] = pa.array(np.arange(table.num_rows, dtype=np.int64))
    return checks.finish(pa.table(columns)), raw


def drop_duplicate_ids(parts: Sequence[tuple[Checked, RawTable]]) -> list[Checked]:
    """The parts without the rows whose non-null ``event_id`` an earlier row of any part has,
    each such row counted and listed as a problem of its part (``DUPLICATE_ID``)."""
    columns = [checked.table["event_id"] if _POSITION in checked.table.column_names else None
               for checked, _ in parts]
    repeated = _repeated([chunk for column in columns if column is not None
                          for chunk in column.chunks])
    out, offset = [], 0
    for (checked, raw), column in zip(parts, columns, strict=True):
        size = 0 if column is None else len(column)
        out.append(_without(checked, raw, repeated[offset : offset + size]))
        offset += size
    return out


def _repeated(chunks: list[pa.Array]) -> np.ndarray:
    """True where a value is not null and equals an earlier one (vectorized: dictionary codes,
    then the first position of each)."""
    if not chunks:
        return np.zeros(0, dtype=bool)
    codes = pc.dictionary_encode(pa.chunked_array(chunks).combine_chunks()).indices
    valid = np.asarray(pc.is_valid(codes).to_numpy(zero_copy_only=False), dtype=bool)
    indices = np.where(valid, codes.to_numpy(zero_copy_only=False), -1)
    repeated = valid.copy()
    repeated[np.unique(indices, return_index=True)[1]] = False
    return repeated


def _without(checked: Checked, raw: RawTable, repeated: np.ndarray) -> Checked:
    """``checked`` without its ``repeated`` rows, which become problems; no position column."""
    if _POSITION not in checked.table.column_names:
        return checked
    table = checked.table.drop_columns([_POSITION])
    if not repeated.any():
        return replace(checked, table=table)
    positions = checked.table[_POSITION].to_numpy()[repeated][:MAX_LISTED]
    rows = raw.row_numbers(positions)
    values = table["event_id"].take(pa.array(np.flatnonzero(repeated)[:MAX_LISTED])).to_pylist()
    problems = [*checked.problems, *(
        Problem(int(row), "event_id", DUPLICATE_ID, str(value))
        for row, value in zip(rows.tolist(), values, strict=True))]
    problems.sort(key=lambda problem: problem.row)
    skipped = Counter(checked.skipped)
    skipped[f"event_id: {DUPLICATE_ID}"] += int(repeated.sum())
    return replace(checked, table=table.filter(pa.array(~repeated)),
                   problems=problems[:MAX_LISTED], skipped=skipped)
