"""Reading CSV, Parquet and JSON Lines files into Arrow tables, keeping track of source rows.

Nothing here judges the content: a reader only turns bytes into a table and reports the rows it
could not parse at all (a CSV row with the wrong number of fields, a line that is not JSON).
Row numbers are 1-based: data rows for CSV (the header is not counted), lines for JSON Lines,
rows for Parquet.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.json as pjson
import pyarrow.parquet as pq

from recommender.errors import DataError, Problem

CSV_SUFFIXES = frozenset({".csv"})
PARQUET_SUFFIXES = frozenset({".parquet", ".pq"})
JSON_SUFFIXES = frozenset({".jsonl", ".ndjson", ".json"})
MALFORMED_CSV = "malformed CSV row"
MALFORMED_JSON = "invalid JSON line"
NOT_UTF8 = "not valid UTF-8 text; save the file as UTF-8"
SNIFF_BYTES = 65_536
"""How much of a CSV or JSON Lines file is looked at first, to refuse binary data early."""
PARQUET_MAGIC = b"PAR1"
_BINARY_SHARE = 0.01
_BINARY_MIN = 4
"""A text file whose first bytes are more than ``_BINARY_SHARE`` control bytes, and at least
``_BINARY_MIN`` of them, is binary data (text has none but tab, line breaks and form feed; a
stray NUL in an id is a bad row, reported as such)."""
_NOT_CONTROL = bytes([*b"\t\n\r\x0c", *range(32, 256)])


@dataclass(frozen=True)
class RawTable:
    """One file as read: its table, and where each table row came from.

    ``numbering`` maps table positions to 1-based source rows; ``None`` means position + 1.
    ``malformed`` lists rows that could not be parsed (they are not in ``table``); their reasons
    read ``"<kind>: <detail>"`` and are counted by kind.
    """

    table: pa.Table
    source: str
    malformed: list[Problem] = field(default_factory=list)
    numbering: Callable[[np.ndarray], np.ndarray] | None = None

    def row_numbers(self, positions: np.ndarray) -> np.ndarray:
        positions = np.asarray(positions, dtype=np.int64)
        return positions + 1 if self.numbering is None else self.numbering(positions)

    @property
    def rows_read(self) -> int:
        return self.table.num_rows + len(self.malformed)


def file_error(source: str, reason: str, column: str = "") -> DataError:
    """A problem with the whole file rather than one row (reported as row 0)."""
    return DataError(source, [Problem(0, column, reason)])


def read_parts(path: str | Path, text_columns: Collection[str], *,
               directories: bool = False) -> Iterator[RawTable]:
    """The file at ``path`` or, with ``directories``, every ``*.parquet`` file below a directory."""
    for file in part_files(path) if directories else [Path(path)]:
        yield read_file(file, text_columns)


def part_files(path: str | Path) -> list[Path]:
    """``[path]`` for a file, else every ``*.parquet`` file below the directory, sorted (the order
    of their rows in a load)."""
    path = Path(path)
    if not path.is_dir():
        return [path]
    files = sorted(p for p in path.rglob("*.parquet") if p.is_file())
    if not files:
        raise file_error(str(path), "directory holds no *.parquet files")
    return files


def read_file(path: str | Path, text_columns: Collection[str]) -> RawTable:
    """Read one file, chosen by its extension; ``text_columns`` are read as text from CSV."""
    path = Path(path)
    source = str(path)
    suffix = path.suffix.lower()
    if not path.exists():
        raise file_error(source, "no such file or directory")
    if suffix not in CSV_SUFFIXES | PARQUET_SUFFIXES | JSON_SUFFIXES:
        raise file_error(source, f"unsupported file type {suffix or '(none)'!r}; use .csv, "
                                 ".parquet/.pq or .jsonl/.ndjson/.json (JSON Lines)")
    if not path.is_file():
        raise file_error(source, "not a file")
    if suffix in PARQUET_SUFFIXES:
        return _read_parquet(path)
    kind = "CSV" if suffix in CSV_SUFFIXES else "JSON Lines"
    check_text(path, kind)
    if suffix in CSV_SUFFIXES:
        return _read_csv(path, text_columns)
    return _read_json_lines(path)


def check_text(path: Path, kind: str) -> None:
    """Refuse a ``kind`` (CSV, JSON Lines) file whose first ``SNIFF_BYTES`` are not text, with
    one ``DataError`` naming the file: a Parquet file under a text name, binary data, or (CSV)
    the first row that is not UTF-8. The text readers would otherwise meet the bytes
    deep inside Arrow, which prints a traceback and puts the bytes in its message."""
    with path.open("rb") as handle:
        head = handle.read(SNIFF_BYTES)
    source = str(path)
    if head.startswith(PARQUET_MAGIC):
        raise file_error(source, f"this is a Parquet file, not {kind}; name it .parquet")
    controls = len(head.translate(None, _NOT_CONTROL))
    if controls >= _BINARY_MIN and controls > _BINARY_SHARE * len(head):
        raise file_error(source, f"binary data, not {kind} text; give a {kind} file saved as "
                                 "UTF-8 text")
    if kind != "CSV":  # a JSON line that is not UTF-8 is a malformed row (--skip-invalid)
        return
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3 or len(head) < SNIFF_BYTES:  # not a character cut short
            line = head.count(b"\n", 0, exc.start) + 1
            raise DataError(source, [Problem(line - 1, "", NOT_UTF8)]) from None


# ---------------------------------------------------------------------------------------- parquet
def _read_parquet(path: Path) -> RawTable:
    try:
        stored = pq.read_schema(path)
        # Text is read straight into large_string, the layout pandas keeps: no cast afterwards.
        schema = pa.schema([field.with_type(pa.large_string()) if pa.types.is_string(field.type)
                            else field for field in stored], metadata=stored.metadata)
        table = pq.read_table(path, schema=schema, partitioning=None)
    except (pa.ArrowException, OSError) as exc:
        if "magic bytes not found" in str(exc):
            raise file_error(str(path), "not a Parquet file (no Parquet footer: another format, "
                                        "or cut short)") from None
        raise file_error(str(path), f"not a readable Parquet file: {exc}") from None
    return RawTable(table, str(path))


# -------------------------------------------------------------------------------------------- CSV
def _read_csv(path: Path, text_columns: Collection[str]) -> RawTable:
    source = str(path)
    try:
        table, invalid = _parse_csv(path, text_columns, use_threads=True)
        if invalid and any(row.number is None for row in invalid):
            # Row numbers of bad rows are only known to the single-threaded parser.
            table, invalid = _parse_csv(path, text_columns, use_threads=False)
    except pa.ArrowInvalid as exc:
        raise _csv_error(path, str(exc)) from None
    if not invalid:
        return RawTable(table, source)
    bad_rows = np.array([row.number - 1 for row in invalid], dtype=np.int64)
    malformed = [
        Problem(int(number), "", f"{MALFORMED_CSV}: expected {row.expected_columns} fields, "
                                 f"got {row.actual_columns}", row.text[:200])
        for number, row in zip(bad_rows, invalid, strict=True)
    ]
    good_rows = np.delete(np.arange(1, table.num_rows + len(invalid) + 1), bad_rows - 1)
    return RawTable(table, source, malformed, lambda positions: good_rows[positions])


def _parse_csv(path: Path, text_columns: Collection[str],
               use_threads: bool) -> tuple[pa.Table, list[pcsv.InvalidRow]]:
    invalid: list[pcsv.InvalidRow] = []

    def on_invalid(row: pcsv.InvalidRow) -> str:
        invalid.append(row)
        return "skip"

    table = pcsv.read_csv(
        path,
        read_options=pcsv.ReadOptions(use_threads=use_threads),
        parse_options=pcsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
        convert_options=pcsv.ConvertOptions(column_types=dict.fromkeys(text_columns, pa.string())),
    )
    return table, invalid


def _csv_error(path: Path, message: str) -> DataError:
    if "Empty CSV file" in message:
        return file_error(str(path), "file is empty; expected a header row")
    if "UTF8" in message.upper().replace("-", ""):
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            return DataError(str(path), [Problem(line - 1, "", NOT_UTF8)])
    return file_error(str(path), f"cannot parse CSV: {message}")


# ------------------------------------------------------------------------------------- JSON Lines
def _read_json_lines(path: Path) -> RawTable:
    source = str(path)
    try:
        table = pjson.read_json(path)
        guessed = [f.name for f in table.schema
                   if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type)]
        if guessed:  # Arrow turns ISO text into naive timestamps: keep the text, offsets and all
            schema = pa.schema([(name, pa.string()) for name in guessed])
            table = pjson.read_json(path, parse_options=pjson.ParseOptions(explicit_schema=schema))
    except pa.ArrowInvalid:
        # Slow path, only for files the Arrow reader refuses: locate bad lines, allow mixed types.
        return _read_json_lines_slowly(path)
    return RawTable(table, source, numbering=lambda positions: _content_lines(path)[positions])


def _content_lines(path: Path) -> np.ndarray:
    """1-based numbers of the lines holding something other than whitespace (bytes <= 0x20)."""
    data = np.frombuffer(path.read_bytes(), dtype=np.uint8)
    starts = np.concatenate(([0], np.flatnonzero(data == 10) + 1))
    starts = starts[starts < len(data)]
    if not len(starts):
        return starts
    return np.flatnonzero(np.logical_or.reduceat(data > 32, starts)) + 1


def _read_json_lines_slowly(path: Path) -> RawTable:
    records: list[dict[str, object]] = []
    lines: list[int] = []
    malformed: list[Problem] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            shown = line.decode("utf-8", "replace").strip()[:200]
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not valid UTF-8"
                malformed.append(Problem(number, "", f"{MALFORMED_JSON}: {reason}", shown))
                continue
            if not isinstance(record, dict):
                reason = "expected one JSON object per line"
                malformed.append(Problem(number, "", f"{MALFORMED_JSON}: {reason}", shown))
                continue
            records.append(record)
            lines.append(number)
    names = list(dict.fromkeys(name for record in records for name in record))
    table = pa.table({name: _json_column([r.get(name) for r in records]) for name in names})
    numbers = np.array(lines, dtype=np.int64)
    return RawTable(table, str(path), malformed, lambda positions: numbers[positions])


def _json_column(values: list[object]) -> pa.Array:
    """Values of one key; a key holding numbers on some lines and text on others becomes text."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([v if v is None or isinstance(v, str) else json.dumps(v) for v in values],
                        type=pa.string())
