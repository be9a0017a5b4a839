"""Column converters: raw Arrow columns -> canonical types, flagging bad cells on a ``RowChecks``.

Every converter works on whole columns with ``pyarrow.compute`` and numpy; masks stay in Arrow
until a rule actually matches a row. A column whose type cannot hold the data at all (a naive
datetime column, a nested JSON value) rejects the file.
"""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recommender.data.formats import file_error
from recommender.data.validation import RowChecks, as_mask

TEXT = pa.large_string()
UTC = pa.timestamp("ns", tz="UTC")
MISSING = "missing value"
NO_OFFSET = "timestamp has no UTC offset"
NOT_TIMESTAMP = "not a timestamp; expected ISO-8601 with an offset or epoch seconds"
BAD_DATE = "not a valid date or time"
OUT_OF_RANGE = "epoch seconds out of range (milliseconds instead of seconds?)"
NAIVE_COLUMN = ("timestamps have no time zone (naive datetimes); store them with a zone "
                "(UTC) or as epoch seconds")
NOT_BOOLEAN = "not a boolean; use true/false, 1/0 or yes/no"
TRUE_WORDS = ("true", "1", "yes")
FALSE_WORDS = ("false", "0", "no")
_MAX_SECONDS = 9_223_372_035  # datetime64[ns] spans the years 1677..2262
_NANOS = 1_000_000_000
_INTEGER = r"^[+-]?\d+$"
_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_DATE_TIME = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}(:\d{2}(:\d{2}([.,]\d+)?)?)?)?"
_WITH_OFFSET = _DATE_TIME + r"(Z|z|[+-]\d{2}(:?\d{2})?)$"
_NAIVE = _DATE_TIME + "$"

Column = pa.Array | pa.ChunkedArray


def _decoded(column: Column) -> Column:
    if pa.types.is_dictionary(column.type):
        return column.cast(column.type.value_type)
    return column


def _is_text(kind: pa.DataType) -> bool:
    return pa.types.is_string(kind) or pa.types.is_large_string(kind)


def _is_number(kind: pa.DataType) -> bool:
    return pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)


def text(column: Column, checks: RowChecks, name: str) -> Column:
    """Any scalar column as text: ids stay as written (``196``, never ``196.0``)."""
    column = _decoded(column)
    kind = column.type
    if kind == TEXT:
        return column
    if _is_text(kind) or _is_number(kind) or pa.types.is_boolean(kind) or pa.types.is_decimal(kind):
        return column.cast(TEXT)
    raise file_error(checks.raw.source, f"expected text, found values of type {kind}", name)


def missing(values: Column) -> Column:
    """Null or empty cells of a text column (an Arrow mask)."""
    empty = pc.equal(values, "")
    return pc.or_kleene(pc.is_null(values), empty) if values.null_count else empty


def required_text(column: Column, checks: RowChecks, name: str) -> Column:
    values = text(column, checks, name)
    checks.flag(name, missing(values), MISSING)
    return values


def optional_text(column: Column | None, checks: RowChecks, name: str,
                  default: str | None) -> Column:
    """Text with empty cells (or a missing column) replaced by ``default``."""
    if column is None:
        return pa.repeat(pa.scalar(default, type=TEXT), checks.rows)
    values = text(column, checks, name)
    return pc.if_else(missing(values), pa.scalar(default, type=TEXT), values)


def one_of(values: Column, checks: RowChecks, name: str, allowed: Collection[str],
           reason: str) -> None:
    """Flag cells not in ``allowed``; ``reason`` may name the ``{value}``.

    Call it after ``required_text``: missing cells then count as missing, their first reason.
    """
    known = pc.is_in(values, value_set=pa.array(sorted(allowed), type=TEXT))
    checks.flag(name, pc.invert(known), reason)


# ------------------------------------------------------------------------------------ timestamps
def timestamps(column: Column | None, checks: RowChecks, name: str, required: bool) -> Column:
    """ISO-8601 with offset, epoch seconds (numbers or text) or zoned timestamps -> UTC ns.

    Absent cells are null; with ``required`` they are flagged as missing.
    """
    if column is None:
        return pa.nulls(checks.rows, type=UTC)
    column = _decoded(column)
    kind = column.type
    if pa.types.is_date(kind) or (pa.types.is_timestamp(kind) and kind.tz is None):
        raise file_error(checks.raw.source, NAIVE_COLUMN, name)
    if not (_is_text(kind) or _is_number(kind) or pa.types.is_timestamp(kind)):
        raise file_error(checks.raw.source, f"expected timestamps, found values of type {kind}",
                         name)
    converted = _convert_all(column)
    if converted is not None:
        return converted
    if _is_text(kind):
        values = pc.utf8_trim_whitespace(column).combine_chunks()
        absent = as_mask(missing(values))
        nanos, bad = _from_text(values, absent, checks, name)
    else:
        if pa.types.is_floating(kind):
            column = pc.if_else(pc.is_nan(column), pa.scalar(None, type=kind), column)
        absent = ~as_mask(pc.is_valid(column))
        if pa.types.is_timestamp(kind):
            nanos, bad = _cast_nanos(column.combine_chunks())
        else:
            nanos, bad = _nanos(column)
        checks.flag(name, bad & ~absent, OUT_OF_RANGE)
    if required:
        checks.flag(name, absent, MISSING)
    bad |= absent
    return pa.array(np.where(bad, 0, nanos), type=UTC, mask=bad)


def _convert_all(column: Column) -> Column | None:
    """The UTC column when every cell is present and valid (the fast path), else ``None``."""
    if column.null_count:
        return None
    try:
        if pa.types.is_timestamp(column.type):
            return column.cast(UTC)
        if _is_text(column.type):
            try:  # integer epoch seconds as text
                column = column.cast(pa.int64())
            except pa.ArrowInvalid:  # ISO-8601 with an offset, or raises
                return column.cast(UTC)
        if pa.types.is_integer(column.type):
            bounds = pc.min_max(column)
            low, high = bounds["min"].as_py(), bounds["max"].as_py()
            if len(column) and max(abs(low), abs(high)) > _MAX_SECONDS:
                return None
            return pc.multiply(column.cast(pa.int64()), _NANOS).cast(UTC)
    except (pa.ArrowInvalid, OverflowError):
        return None
    return None


def _nanos(seconds: Column) -> tuple[np.ndarray, np.ndarray]:
    """Epoch seconds -> (int64 ns, unusable mask); nulls give 0 and count as unusable."""
    absent = ~as_mask(pc.is_valid(seconds))
    if pa.types.is_integer(seconds.type) or pa.types.is_null(seconds.type):
        whole = pc.fill_null(seconds.cast(pa.int64()), 0).to_numpy()
        outside = np.abs(whole) > _MAX_SECONDS
        return np.where(outside, 0, whole) * _NANOS, outside | absent
    real = pc.fill_null(seconds.cast(pa.float64()), 0.0).to_numpy()
    outside = ~(np.abs(real) <= _MAX_SECONDS)
    return np.round(np.where(outside, 0.0, real) * _NANOS).astype(np.int64), outside | absent


def _cast_nanos(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Zoned timestamps or ISO text with offsets -> (int64 UTC ns, unusable mask)."""
    parsed = _cast_each(values, UTC)
    return pc.fill_null(parsed.cast(pa.int64()), 0).to_numpy(), ~as_mask(pc.is_valid(parsed))


def _from_text(values: pa.Array, absent: np.ndarray, checks: RowChecks,
               name: str) -> tuple[np.ndarray, np.ndarray]:
    """Trimmed text -> (ns, unusable mask), flagging each kind of bad cell."""

    def matches(pattern: str) -> np.ndarray:
        return ~absent & as_mask(pc.match_substring_regex(values, pattern))

    numeric = matches(_NUMBER)
    integer = numeric & matches(_INTEGER)
    zoned = matches(_WITH_OFFSET) & ~numeric
    naive = matches(_NAIVE) & ~numeric
    nanos = np.zeros(len(values), dtype=np.int64)
    failed = np.zeros(len(values), dtype=bool)
    parsers = (
        (integer, lambda cells: _nanos(_cast_each(cells, pa.int64()))),
        (numeric & ~integer, lambda cells: _nanos(_cast_each(cells, pa.float64()))),
        (zoned, _cast_nanos),
    )
    for subset, parse in parsers:
        where = np.flatnonzero(subset)
        nanos[where], failed[where] = parse(values.take(where))
    other = ~(absent | numeric | zoned | naive)
    checks.flag(name, failed & numeric, OUT_OF_RANGE)
    checks.flag(name, failed & zoned, BAD_DATE)
    checks.flag(name, naive, NO_OFFSET)
    checks.flag(name, other, NOT_TIMESTAMP)
    return nanos, failed | naive | other


def _cast_each(values: pa.Array, to: pa.DataType) -> pa.Array:
    """Cast, with null for each value that does not convert (found by bisection, errors only)."""
    try:
        return values.cast(to)
    except (pa.ArrowInvalid, OverflowError):
        if len(values) == 1:
            return pa.nulls(1, type=to)
        middle = len(values) // 2
        return pa.concat_arrays([_cast_each(values[:middle], to), _cast_each(values[middle:], to)])


# ---------------------------------------------------------------------------------- other values
def booleans(column: Column | None, checks: RowChecks, name: str, default: bool) -> Column:
    """true/false, 1/0, yes/no (any case); empty cells and a missing column take ``default``."""
    if column is None:
        return pa.repeat(pa.scalar(default), checks.rows)
    column = _decoded(column)
    if pa.types.is_boolean(column.type):
        return pc.fill_null(column, default)
    words = pc.utf8_lower(pc.utf8_trim_whitespace(text(column, checks, name)))
    true, false = (pc.is_in(words, value_set=pa.array(w, type=TEXT))
                   for w in (TRUE_WORDS, FALSE_WORDS))
    empty = missing(words)
    checks.flag(name, pc.invert(pc.or_(pc.or_(true, false), empty)), NOT_BOOLEAN)
    return pc.or_(true, pc.and_(empty, default))


def numbers(column: Column, checks: RowChecks, name: str) -> Column:
    """Optional numbers (floats); empty cells are null."""
    column = _decoded(column)
    if _is_number(column.type):
        return column.cast(pa.float64())
    values = pc.utf8_trim_whitespace(text(column, checks, name)).combine_chunks()
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, type=TEXT), values)
    parsed = _cast_each(values, pa.float64())
    checks.flag(name, pc.and_(pc.is_null(parsed), pc.is_valid(values)), "not a number")
    return parsed
