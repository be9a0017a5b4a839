"""``load_catalog``: the items (products and content) from CSV, Parquet or JSON Lines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recommender.data.columns import (
    booleans,
    missing,
    one_of,
    optional_text,
    required_text,
    timestamps,
)
from recommender.data.formats import RawTable, read_file
from recommender.data.validation import (
    Checked,
    LoadResult,
    RowChecks,
    as_mask,
    conclude,
    flag_control_characters,
    require_columns,
)

CATALOG_COLUMNS = ("item_id", "kind", "category")
KINDS = ("product", "content")
BAD_KIND = "kind must be 'product' or 'content'"
DUPLICATE_ITEM = "duplicate item_id; each item may appear once"


def load_catalog(path: str | Path, *, skip_invalid: bool = False) -> LoadResult:
    """Read and validate a catalog file.

    Parameters
    ----------
    path
        A ``.csv``, ``.parquet``/``.pq`` or ``.jsonl``/``.ndjson``/``.json`` (JSON Lines) file.
    skip_invalid
        Drop bad rows and count them by reason in ``skipped`` instead of rejecting the file. Of
        repeated item ids the first row is kept.

    Returns
    -------
    LoadResult
        ``frame`` has ``item_id``, ``kind``, ``category``, ``title`` and ``tags`` (text, empty
        when absent), ``available`` (bool, true when absent) and ``created_at`` (UTC, NaT when
        absent).

    Raises
    ------
    DataError
        Naming the file, row, column, reason and value of the first bad rows and their total.
    """
    text_columns = (*CATALOG_COLUMNS, "title", "tags", "available", "created_at")
    part = _check(read_file(path, text_columns))
    table, skipped = conclude([part], skip_invalid)
    return LoadResult(table.to_pandas(), str(path), part.rows_read, dict(skipped))


def _check(raw: RawTable) -> Checked:
    require_columns(raw, CATALOG_COLUMNS)
    table = raw.table

    def optional(name: str) -> pa.ChunkedArray | None:
        return table[name] if name in table.column_names else None

    checks = RowChecks(raw)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        name: required_text(table[name], checks, name) for name in CATALOG_COLUMNS
    }
    flag_control_characters(columns["item_id"], checks, "item_id")
    one_of(columns["kind"], checks, "kind", KINDS, BAD_KIND)
    columns["title"] = optional_text(optional("title"), checks, "title", default="")
    columns["tags"] = optional_text(optional("tags"), checks, "tags", default="")
    columns["available"] = booleans(optional("available"), checks, "available", default=True)
    columns["created_at"] = timestamps(optional("created_at"), checks, "created_at",
                                       required=False)
    checks.flag("item_id", _repeated(columns["item_id"]), DUPLICATE_ITEM)
    return checks.finish(pa.table(columns))


def _repeated(ids: pa.ChunkedArray) -> np.ndarray:
    """Rows whose (present) id appeared on an earlier row."""
    codes = pc.fill_null(pc.dictionary_encode(ids).combine_chunks().indices, -1).to_numpy()
    repeated = np.ones(len(codes), dtype=bool)
    repeated[np.unique(codes, return_index=True)[1]] = False
    return repeated & ~as_mask(missing(ids))
