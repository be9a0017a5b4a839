"""Declared, validated hyper-parameters shared by every model.

Each model lists its parameters as ``Param`` entries; ``validate_params`` fills in defaults and
rejects unknown names, wrong types and out-of-range values with a ``ValueError`` naming the model
and the parameter. Values arriving from TOML or the command line may be ints where a float is
expected; that is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One hyper-parameter: its default, its type and the values it may take.

    ``low``/``high`` bound numbers inclusively; ``choices`` lists the allowed strings.
    """

    default: Any
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def check(self, model: str, name: str, value: Any) -> Any:
        """``value`` as the parameter's type, or ``ValueError`` saying what is expected."""
        where = f"{model}.{name}"
        kind = type(self.default)
        if kind is bool:
            if not isinstance(value, bool):
                raise ValueError(f"{where} must be true or false, got {value!r}")
            return value
        if kind is str:
            if value not in self.choices:
                raise ValueError(f"{where} must be one of {list(self.choices)}, got {value!r}")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{where} must be a number ({self.doc}), got {value!r}")
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(f"{where} must be a whole number, got {value!r}")
            value = int(value)
        else:
            value = float(value)
        if (self.low is not None and value < self.low) or (
            self.high is not None and value > self.high
        ):
            raise ValueError(f"{where} must be in {self._range()} ({self.doc}), got {value!r}")
        return value

    def _range(self) -> str:
        low = "-inf" if self.low is None else f"{self.low:g}"
        high = "inf" if self.high is None else f"{self.high:g}"
        return f"[{low}, {high}]"


def validate_params(
    model: str, spec: Mapping[str, Param], given: Mapping[str, Any]
) -> dict[str, Any]:
    """Every parameter of ``spec`` with its checked value from ``given`` or its default."""
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for model {model!r}; valid parameters: {sorted(spec)}"
        )
    return {
        name: param.check(model, name, given[name]) if name in given else param.default
        for name, param in spec.items()
    }


def defaults(spec: Mapping[str, Param]) -> dict[str, Any]:
    """The default value of each parameter."""
    return {name: param.default for name, param in spec.items()}
