"""Writing a synthetic data set as ``events.<ext>`` and ``items.<ext>`` in one folder.

CSV and JSON Lines carry timestamps as ISO-8601 strings with the ``+08:00`` offset of
Asia/Shanghai, the way a mini-program backend in China logs them; Parquet keeps them as
UTC timestamps. Output bytes depend only on the frames.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

if TYPE_CHECKING:
    from recommender.synth import SynthData

SYNTH_FORMATS: dict[str, str] = {"csv": "csv", "parquet": "parquet", "jsonl": "jsonl"}
"""Output format -> file extension."""

_SHANGHAI = np.timedelta64(8, "h")
_JSON_BATCH_ROWS = 1_000_000


def iso_shanghai(timestamps: pd.Series) -> pd.Series:
    """UTC timestamps -> ISO-8601 strings in Asia/Shanghai (``+08:00``); NaT stays missing.

    Arrow's cast to text (``YYYY-MM-DD HH:MM:SS``) plus two string kernels: about ten times
    faster than ``strftime`` on tens of millions of rows.
    """
    local = timestamps.dt.tz_localize(None).to_numpy(dtype="datetime64[s]") + _SHANGHAI
    text = pc.cast(pa.array(local, type=pa.timestamp("s")), pa.string())
    text = pc.utf8_replace_slice(text, start=10, stop=11, replacement="T")
    text = pc.binary_join_element_wise(text, "+08:00", "")
    return pd.Series(text, dtype="str", index=timestamps.index)


def _with_text_times(frame: pd.DataFrame) -> pd.DataFrame:
    columns = [c for c in ("timestamp", "created_at") if c in frame.columns]
    return frame.assign(**{c: iso_shanghai(frame[c]) for c in columns})


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table; tz-aware columns become UTC timestamps, nulls stay null."""
    columns = {}
    for name, column in frame.items():
        if isinstance(column.dtype, pd.DatetimeTZDtype):
            utc = column.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
            columns[name] = pa.array(utc, type=pa.timestamp("us", tz="UTC"))
        else:
            array = pa.array(column.array)
            large = pa.types.is_large_string(array.type)
            columns[name] = array.cast(pa.string()) if large else array
    return pa.table(columns)


def _text(value: str) -> pa.Scalar:
    return pa.scalar(value, type=pa.large_string())


def _json_values(values: pa.Array, name: str) -> pa.Array:
    """Each value as a JSON literal (text escaped, nulls as ``null``), as ``large_string``."""
    if pa.types.is_boolean(values.type):
        literal = pc.if_else(values, _text("true"), _text("false"))
    elif pa.types.is_integer(values.type):
        literal = pc.cast(values, pa.large_string())
    elif pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = values.cast(pa.large_string())
        if pc.any(pc.match_substring_regex(text, '[\\\\"\\x00-\\x1f]')).as_py():
            text = pc.replace_substring(text, "\\", "\\\\")
            text = pc.replace_substring(text, '"', '\\"')
            for code in range(32):
                text = pc.replace_substring(text, chr(code), f"\\u{code:04x}")
        literal = pc.binary_join_element_wise(_text('"'), text, _text('"'), _text(""))
    else:
        raise ValueError(f"column {name!r} of type {values.type} cannot be written as JSON")
    return pc.fill_null(literal, _text("null"))


def _json_lines(batch: pa.RecordBatch) -> memoryview:
    """The rows of ``batch`` as JSON Lines, built column-wise with Arrow string kernels."""
    parts: list[pa.Scalar | pa.Array] = []
    for position, name in enumerate(batch.schema.names):
        key = ("{" if position == 0 else ",") + json.dumps(name, ensure_ascii=False) + ":"
        parts += [_text(key), _json_values(batch.column(position), name)]
    lines = pc.binary_join_element_wise(*parts, _text("}\n"), _text(""))
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[[lines.offset, lines.offset + len(lines)]]
    return memoryview(data)[bounds[0] : bounds[1]]


def _write_json_lines(frame: pd.DataFrame, path: Path) -> None:
    """One JSON object a row, a million rows at a time to bound memory."""
    table = _arrow(_with_text_times(frame))
    with path.open("wb") as out:
        for batch in table.to_batches(max_chunksize=_JSON_BATCH_ROWS):
            out.write(_json_lines(batch))


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(_arrow(frame), path)
    elif fmt == "csv":
        options = pacsv.WriteOptions(quoting_style="none")
        pacsv.write_csv(_arrow(_with_text_times(frame)), path, options)
    else:
        _write_json_lines(frame, path)


def write_synth(data: SynthData, out_dir: Path | str, fmt: str = "csv") -> tuple[Path, Path]:
    """Write ``events.<ext>`` and ``items.<ext>`` into ``out_dir`` (created if missing).

    Parameters
    ----------
    data
        What ``synthesize`` returned.
    out_dir
        Target folder; existing files of the same names are replaced.
    fmt
        ``csv``, ``parquet`` or ``jsonl``.

    Returns
    -------
    tuple of Path
        The events file and the catalog file.
    """
    if fmt not in SYNTH_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(SYNTH_FORMATS)}")
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    events_path = folder / f"events.{SYNTH_FORMATS[fmt]}"
    items_path = folder / f"items.{SYNTH_FORMATS[fmt]}"
    _write(data.events, events_path, fmt)
    _write(data.catalog, items_path, fmt)
    return events_path, items_path
