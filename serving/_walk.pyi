"""Types of the C extension ``serving._walk`` (``serving/_walk.c``)."""

from collections.abc import Callable, Sequence

RunSpec = tuple[bytes, list[bool] | None, bool, float, str]
"""A run: an encoded ranked list, the flags its items must have (``None``: every item), the
value they must have, the factor its scores are boosted by, the reason of its items."""

def walk(runs: list[RunSpec], skip: set[int], blocked: frozenset[int], kind_of: list[str],
         kind: str, category_of: list[str], category: str | None,
         limit: int, ids: list[str]) -> list[dict[str, object]]: ...
def blend(items: list[dict[str, object]], index_of: dict[str, int], again: set[int],
          session: list[int], fuse: Callable[[list[int], list[int], float, int, int],
                                             Sequence[tuple[int, float, bool]]],
          weight: float, offset: int, n: int, ranked: list[int], sources: list[int],
          ids: list[str], reason: str) -> list[dict[str, object]]: ...
def allowed(items: list[int], skip: set[int], blocked: frozenset[int], kind_of: list[str],
            kind: str, category_of: list[str], category: str | None, limit: int,
            seen: frozenset[int], repeatable: list[bool] | None) -> list[int]: ...
