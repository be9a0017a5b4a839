"""Errors raised by the recommender library.

The tree::

    RecommenderError
    ├── DataError              bad input data: names the file, row, column and reason
    ├── ConfigError            bad recsys.toml or option: names the key and what was expected
    ├── ModelError             a model cannot do what was asked
    │   ├── ModelFitError      fitting failed (e.g. the catalog is too large for EASE)
    │   └── NotFittedError     the model was used before ``fit`` or ``load``
    └── UnknownModelError      no model of that name
"""

from __future__ import annotations

from dataclasses import dataclass


class RecommenderError(Exception):
    """Base class of every error this library raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One bad row: where it is and why it was rejected."""

    row: int
    column: str
    reason: str
    value: str = ""

    def describe(self, source: str) -> str:
        shown = f" (value {self.value!r})" if self.value != "" else ""
        where = [f"row {self.row}"] if self.row > 0 else []
        if self.column:
            where.append(f"column {self.column!r}")
        place = f" {', '.join(where)}:" if where else ""
        return f"{source}:{place} {self.reason}{shown}"


class DataError(RecommenderError):
    """Input data was rejected. ``problems`` lists the first bad rows found."""

    def __init__(self, source: str, problems: list[Problem], total: int | None = None) -> None:
        self.source = source
        self.problems = problems
        self.total = len(problems) if total is None else total
        lines = [p.describe(source) for p in problems[:10]]
        more = self.total - len(lines)
        if more > 0:
            lines.append(f"... and {more} more bad rows (use --skip-invalid to drop them)")
        super().__init__("\n".join(lines) if lines else f"{source}: invalid data")


class ConfigError(RecommenderError):
    """A configuration key or option has a bad value."""


class ModelError(RecommenderError):
    """A model cannot do what was asked."""


class ModelFitError(ModelError):
    """Fitting a model failed or was refused."""


class NotFittedError(ModelError):
    """The model was used before ``fit`` or ``load``."""


class UnknownModelError(RecommenderError, ValueError):
    """No model is registered under that name."""
