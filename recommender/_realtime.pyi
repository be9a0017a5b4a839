"""Types of the C extension ``recommender._realtime`` (``recommender/_realtime.c``)."""

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

def session(lists: list[tuple[int, Sequence[int], int, Sequence[float]]],
            exclude: Sequence[int]) -> tuple[list[int], list[int]]: ...
def fuse(first: Sequence[int], second: Sequence[int], weight: float, offset: int, n: int,
         fused: Callable[[int, float, bool], T]) -> list[T]: ...
