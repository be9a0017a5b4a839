"""Writing a synthetic data set as ``events.<ext>`` and ``items.<ext>`` in one folder.

CSV and JSON Lines carry timestamps as ISO-8601 strings with the ``+08:00`` offset of
Asia/Shanghai, the way a mini-program backend in China logs them; Parquet keeps them as
UTC timestamps. Output bytes depend only on the frames.
"""

from __future__ import annotations

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
_ISO_SHANGHAI = "%Y-%m-%dT%H:%M:%S+08:00"


def iso_shanghai(timestamps: pd.Series) -> pd.Series:
    """UTC timestamps -> ISO-8601 strings in Asia/Shanghai (``+08:00``); NaT stays missing."""
    local = timestamps.dt.tz_localize(None).to_numpy(dtype="datetime64[s]") + _SHANGHAI
    text = pc.strftime(pa.array(local, type=pa.timestamp("s")), format=_ISO_SHANGHAI)
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


def _write(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(_arrow(frame), path)
    elif fmt == "csv":
        options = pacsv.WriteOptions(quoting_style="none")
        pacsv.write_csv(_arrow(_with_text_times(frame)), path, options)
    else:
        _with_text_times(frame).to_json(path, orient="records", lines=True, force_ascii=False)


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
