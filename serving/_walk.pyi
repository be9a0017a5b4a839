"""Types of the C extension ``serving._walk`` (``serving/_walk.c``)."""

from collections.abc import Callable, Sequence

RunSpec = tuple[bytes, list[bool] | None, bool, float, str]
"""A run: an encoded ranked list, the flags its items must have (``None``: every item), the
value they must have, the factor its scores are boosted by, the reason of its items."""

def walk(runs: list[RunSpec], skip: set[int], blocked: frozenset[int], kind_of: list[str],
         kind: str, category_of: list[str], category: str | None,
         limit: int, ids: list[str]) -> list[dict[str, object]]: ...
def with_session(items: list[dict[str, object]], index_of: dict[str, int], newest: list[int],
                 neighbours: Callable[[int], tuple[Sequence[int], Sequence[float]] | None],
                 depth: int, session_offset: int, decay: float, again: set[int],
                 blocked: frozenset[int], kind_of: list[str], kind: str, category_of: list[str],
                 category: str | None, seen: frozenset[int], repeatable: list[bool] | None,
                 weight: float, offset: int, n: int, ids: list[str], reason: str
                 ) -> tuple[list[dict[str, object]], bool]: ...
def allowed(items: list[int], skip: set[int], blocked: frozenset[int], kind_of: list[str],
            kind: str, category_of: list[str], category: str | None, limit: int,
            seen: frozenset[int], repeatable: list[bool] | None) -> list[int]: ...
