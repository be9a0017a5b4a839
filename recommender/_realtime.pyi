"""Types of the C extension ``recommender._realtime`` (``recommender/_realtime.c``)."""

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

def session(newest: Sequence[int],
            neighbours: Callable[[int], tuple[Sequence[int], Sequence[float]] | None],
            depth: int, offset: int, decay: float) -> tuple[list[int], list[int]]: ...
def fuse(first: Sequence[int], second: Sequence[int], weight: float, offset: int, n: int,
         fused: Callable[[int, float, bool], T]) -> list[T]: ...
