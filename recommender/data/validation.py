"""Row checks shared by the loaders: collect bad rows as masks, then reject the file or drop them.

A loader calls ``RowChecks.flag`` once per rule with a boolean mask over the whole table (never a
Python loop over rows). A row bad in several ways is reported once, for the first rule it broke.
``conclude`` then either raises one ``DataError`` (strict) or drops the bad rows and counts them
by reason (``skip_invalid``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from recommender.data.formats import RawTable
from recommender.errors import DataError, Problem

MAX_LISTED = 10
Mask = np.ndarray | pa.Array | pa.ChunkedArray
CONTROL_CHARACTER = ("holds a control character (NUL, tab, line break, ...); ids must be "
                     "printable text")
_CONTROLS = r"[\x{00}-\x{1f}\x{7f}-\x{9f}]"
"""C0 and C1 control characters and DEL, as an RE2 class (``pyarrow.compute`` regexes)."""


def as_mask(mask: Mask) -> np.ndarray:
    """A boolean numpy or Arrow mask as a numpy array; Arrow nulls count as false."""
    if isinstance(mask, np.ndarray):
        return mask.astype(bool, copy=False)
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


@dataclass(frozen=True)
class LoadResult:
    """What a loader returns: the canonical frame and an account of what was read and dropped.

    ``skipped`` counts dropped rows by reason, as ``"column: reason"``; empty when nothing was.
    """

    frame: pd.DataFrame
    source: str
    rows_read: int
    skipped: dict[str, int] = field(default_factory=dict)

    @property
    def rows_skipped(self) -> int:
        return sum(self.skipped.values())


@dataclass(frozen=True)
class _Rule:
    column: str
    mask: np.ndarray
    reason: str  # may hold "{value}", filled with the offending value


@dataclass(frozen=True)
class Checked:
    """One file after its checks: the good rows, the first problems and counts of bad rows."""

    table: pa.Table
    source: str
    rows_read: int
    problems: list[Problem]
    skipped: Counter[str]


class RowChecks:
    """Collects rule violations over the rows of one raw table."""

    def __init__(self, raw: RawTable) -> None:
        self.raw = raw
        self.rows = raw.table.num_rows
        self._rules: list[_Rule] = []

    def flag(self, column: str, mask: Mask, reason: str) -> None:
        """Mark the rows where ``mask`` is true as bad in ``column`` for ``reason``.

        Arrow masks are only turned into numpy when they match a row (the good path is cheap).
        """
        if not isinstance(mask, np.ndarray) and not pc.any(mask).as_py():
            return
        rows = as_mask(mask)
        if rows.any():
            self._rules.append(_Rule(column, rows, reason))

    def finish(self, table: pa.Table) -> Checked:
        """Keep the rows of ``table`` (the converted raw columns) that broke no rule."""
        problems = list(self.raw.malformed)
        skipped: Counter[str] = Counter(p.reason.partition(":")[0] for p in self.raw.malformed)
        if self._rules:
            rule_of = np.full(self.rows, -1, dtype=np.int32)
            for number, rule in enumerate(self._rules):
                rule_of[rule.mask & (rule_of < 0)] = number
            bad = np.flatnonzero(rule_of >= 0)
            problems.extend(self._problems(bad[:MAX_LISTED], rule_of))
            skipped.update(self._counts(rule_of))
            table = table.filter(pa.array(rule_of < 0))
        problems.sort(key=lambda p: p.row)
        return Checked(table, self.raw.source, self.raw.rows_read, problems[:MAX_LISTED], skipped)

    def _problems(self, positions: np.ndarray, rule_of: np.ndarray) -> list[Problem]:
        rows = self.raw.row_numbers(positions)
        out = []
        for position, row in zip(positions.tolist(), rows.tolist(), strict=True):
            rule = self._rules[rule_of[position]]
            value = self._value(rule.column, position)
            out.append(Problem(row, rule.column, rule.reason.format(value=value), value))
        return out

    def _counts(self, rule_of: np.ndarray) -> Counter[str]:
        counts: Counter[str] = Counter()
        for number, rule in enumerate(self._rules):
            hit = rule_of == number
            if not hit.any():
                continue
            if "{value" not in rule.reason:
                counts[f"{rule.column}: {rule.reason}"] += int(hit.sum())
                continue
            values = self.raw.table.column(rule.column).filter(pa.array(hit)).value_counts()
            for item in values.to_pylist():
                text = "" if item["values"] is None else str(item["values"])
                counts[f"{rule.column}: {rule.reason.format(value=text)}"] += item["counts"]
        return counts

    def _value(self, column: str, position: int) -> str:
        """The raw value of one cell as text ("" for null), for messages."""
        if column not in self.raw.table.column_names:
            return ""
        scalar = self.raw.table.column(column)[position].as_py()
        return "" if scalar is None else str(scalar)


def flag_control_characters(values: pa.Array | pa.ChunkedArray, checks: RowChecks,
                            name: str) -> None:
    """Flag the ids (text) of column ``name`` that hold a control character: a NUL or a line
    break in an id is a broken export, and would split or end the id further on."""
    checks.flag(name, pc.match_substring_regex(values, _CONTROLS), CONTROL_CHARACTER)


def require_columns(raw: RawTable, required: Sequence[str]) -> None:
    """Raise ``DataError`` (row 0) naming every required column the file lacks.

    A file with no columns at all is reported by its malformed rows, if it has any.
    """
    if raw.table.num_columns == 0:
        if raw.malformed:
            raise DataError(raw.source, raw.malformed[:MAX_LISTED], total=len(raw.malformed))
        raise DataError(raw.source, [Problem(0, "", "file holds no data")])
    missing = [c for c in required if c not in raw.table.column_names]
    if missing:
        present = ", ".join(raw.table.column_names)
        raise DataError(raw.source, [
            Problem(0, name, f"required column is missing (columns found: {present})")
            for name in missing
        ])


def conclude(parts: Sequence[Checked], skip_invalid: bool) -> tuple[pa.Table, Counter[str]]:
    """Strict: raise for the first file with bad rows, counting all of them. Else join the parts."""
    skipped: Counter[str] = Counter()
    for part in parts:
        skipped.update(part.skipped)
    if skipped and not skip_invalid:
        first = next(part for part in parts if part.problems)
        raise DataError(first.source, first.problems, total=sum(skipped.values()))
    tables = [part.table for part in parts]
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    return table, skipped
