"""What the commands tell the user: progress and warnings on stderr, tables on stdout."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Protocol

from rich.console import Console
from rich.table import Table


class _Loaded(Protocol):
    source: str
    rows_read: int
    skipped: Mapping[str, int]


class Reporter:
    """Progress lines go to stderr so that ``--json`` output on stdout stays clean."""

    def __init__(self, quiet: bool = False) -> None:
        self.err = Console(stderr=True, highlight=False)
        self.out = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
        self.quiet = quiet

    def step(self, message: str) -> None:
        if not self.quiet:
            self.err.print(f"[dim]…[/dim] {message}")

    def skipped(self, loaded: _Loaded) -> None:
        dropped = sum(loaded.skipped.values())
        if not dropped:
            return
        reasons = ", ".join(f"{count:,} {reason}" for reason, count in loaded.skipped.items())
        self.err.print(
            f"[yellow]warning[/yellow]: {loaded.source}: skipped {dropped:,} of "
            f"{loaded.rows_read:,} rows ({reasons})"
        )

    def table(
        self,
        title: str,
        rows: Mapping[str, Mapping[str, float]],
        seconds: Mapping[str, float] | None = None,
    ) -> None:
        columns = list(next(iter(rows.values()), {}).keys())
        table = Table(title=title)
        table.add_column("model")
        for column in columns:
            table.add_column(column, justify="right")
        if seconds:
            table.add_column("fit s", justify="right")
        for name, metrics in rows.items():
            cells = [f"{metrics[c]:.4f}" for c in columns]
            if seconds:
                cells.append(f"{seconds.get(name, float('nan')):.1f}")
            table.add_row(name, *cells)
        self.out.print(table)
