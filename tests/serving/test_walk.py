"""serving._walk (C): the walk over encoded ranked lists and the fusion of a list with session
candidates, against the Python they replaced.

The oracle below is the merge ``serving.ranking`` ran before the walk moved to C: the runs'
heads ``(-boosted score, item, reason)`` compared as tuples, the first run winning a full tie.
"""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from recommender import realtime
from recommender.config import RealtimeConfig
from serving import _walk
from storage.codec import encode_lists, read_list
from tests.recommender.test_realtime_native import compact, random_similar

KINDS = ["product", "content"]
CATEGORIES = ["breakfast", "drinks", "snacks"]


def _oracle(runs: list[tuple[bytes, list[bool] | None, bool, float, str]], skip: set[int],
            blocked: frozenset[int], kind_of: list[str], kind: str, category_of: list[str],
            category: str | None, limit: int, ids: list[str]) -> list[dict[str, object]]:
    heads = []
    for blob, flags, member, factor, reason in runs:
        ranked = read_list(blob)
        entries = []
        for position, item in enumerate(ranked.items):
            if flags is None or flags[item] is member:
                score = ranked.lo + ranked.levels[position] * ranked.step
                entries.append((-(score * factor if score >= 0 else score / factor), item,
                                reason))
        heads.append(entries)
    out: list[dict[str, object]] = []
    positions = [0] * len(heads)
    while len(out) < limit:
        best = None
        for r, entries in enumerate(heads):
            if positions[r] < len(entries) and (
                    best is None or entries[positions[r]] < heads[best][positions[best]]):
                best = r
        if best is None:
            break
        negative, item, reason = heads[best][positions[best]]
        positions[best] += 1
        if item in skip or item in blocked or kind_of[item] != kind:
            continue
        if category is not None and category_of[item] != category:
            continue
        skip.add(item)
        out.append({"item_id": ids[item], "score": round(-negative, 4), "reason": reason})
    return out


def _blob(rng: random.Random, n_items: int, length: int, pad: int) -> bytes:
    items = rng.sample(range(n_items), length)
    # few distinct scores: ties between runs and within one run are common
    scores = sorted((rng.choice([1.0, 0.5, 0.25, 0.0, -0.25, rng.uniform(-1, 2)])
                     for _ in items), reverse=True)
    ids = np.array([items + [-1] * pad])
    return encode_lists(ids, np.array([scores + [np.nan] * pad]), n_items)[0]


@pytest.mark.parametrize("seed", range(4))
def test_the_walk_gives_what_the_python_merge_gave(seed: int) -> None:
    rng = random.Random(seed)
    catalogs = {n_items: ([rng.choice(KINDS) for _ in range(n_items)],
                          [rng.choice(CATEGORIES) for _ in range(n_items)],
                          [f"i{i}" for i in range(n_items)],
                          [rng.random() < 0.4 for _ in range(n_items)])
                for n_items in (12, 40, 300, 70_000)}  # 70,000: uint32 indices
    for _ in range(1_500):
        n_items = rng.choice(list(catalogs))
        kind_of, category_of, ids, flags = catalogs[n_items]
        own = _blob(rng, n_items, rng.randrange(1, 12), rng.choice([0, 0, 3]))
        runs: list[tuple[bytes, list[bool] | None, bool, float, str]]
        if rng.random() < 0.3:
            runs = [(own, None, True, 1.0, "personalized")]
        else:
            boost = rng.choice([1.0, 1.5, 3.0])
            runs = [(own, flags, False, 1.0, "personalized"), (own, flags, True, boost, "slot:b")]
            if rng.random() < 0.7:
                runs.append((_blob(rng, n_items, rng.randrange(1, 8), 0), None, True, boost,
                             "slot:b"))
        skip = set(rng.sample(range(n_items), min(3, n_items)))
        blocked = frozenset(rng.sample(range(n_items), min(rng.randrange(4), n_items)))
        kind, category = rng.choice(KINDS), rng.choice([None, None, *CATEGORIES])
        limit = rng.randrange(1, 15)
        expected_skip = set(skip)
        expected = _oracle(runs, expected_skip, blocked, kind_of, kind, category_of, category,
                           limit, ids)
        got = _walk.walk(runs, skip, blocked, kind_of, kind, category_of, category, limit, ids)
        assert got == expected
        assert skip == expected_skip


def test_a_walk_refuses_what_is_not_an_encoded_list() -> None:
    with pytest.raises(ValueError, match="not an encoded ranked list"):
        _walk.walk([(b"\x07junk", None, True, 1.0, "r")], set(), frozenset(), ["product"],
                   "product", ["c"], None, 5, ["a"])


def test_flags_shorter_than_the_catalog_are_an_index_error_not_a_crash() -> None:
    blob = encode_lists(np.array([[5, 1]]), np.array([[0.9, 0.1]]), 10)[0]
    with pytest.raises(IndexError):
        _walk.walk([(blob, [True], True, 1.0, "r")], set(), frozenset(), ["product"] * 10,
                   "product", ["c"] * 10, None, 5, [str(i) for i in range(10)])
    with pytest.raises(IndexError):  # an item past the catalog's lists
        _walk.walk([(blob, None, True, 1.0, "r")], set(), frozenset(), ["product"] * 3,
                   "product", ["c"] * 3, None, 5, [str(i) for i in range(3)])


def test_allowed_keeps_the_first_items_the_filters_pass_and_seen_ones_if_repeatable() -> None:
    """(``repeatable`` None: never, as for new items.)"""
    rng = random.Random(9)
    n_items = 50
    kind_of = [rng.choice(KINDS) for _ in range(n_items)]
    category_of = [rng.choice(CATEGORIES) for _ in range(n_items)]
    repeatable = [category == "breakfast" for category in category_of]
    for _ in range(2_000):
        ranked = rng.sample(range(n_items), rng.randrange(n_items))
        skip = set(rng.sample(range(n_items), rng.randrange(8)))
        blocked = frozenset(rng.sample(range(n_items), rng.randrange(8)))
        kind, category = rng.choice(KINDS), rng.choice([None, *CATEGORIES])
        seen = frozenset(rng.sample(range(n_items), rng.randrange(12)))
        limit = rng.randrange(0, 20)
        again = rng.random() < 0.7  # None: a seen item is never allowed again
        expected = [item for item in ranked
                    if item not in skip and item not in blocked and kind_of[item] == kind
                    and (category is None or category_of[item] == category)
                    and (item not in seen or (again and repeatable[item]))][:limit]
        before = set(skip)
        assert _walk.allowed(ranked, skip, blocked, kind_of, kind, category_of, category,
                             limit, seen, repeatable if again else None) == expected
        assert skip == before


def _blend_oracle(items: list[dict[str, object]], index_of: dict[str, int], again: set[int],
                  session: list[int], ranked: list[int], sources: list[int], weight: float,
                  offset: int, n: int, ids: list[str]) -> list[dict[str, object]]:
    """What ``serving.ranking.with_session`` did after its session candidates, in Python."""
    indices = [index_of[item["item_id"]] for item in items]  # type: ignore[index]
    if not session:
        out = [item for item, index in zip(items, indices, strict=True) if index not in again][:n]
    else:
        by_index = dict(zip(indices, items, strict=True))
        kept = [index for index in indices if index not in again]
        out = []
        for entry in realtime.fuse(kept, session, weight, offset, n):
            score = round(entry.score * 100, 4)
            if entry.second:
                source = sources[ranked.index(entry.item)]
                out.append({"item_id": ids[entry.item], "score": score, "reason": "session",
                            "because": ids[source]})
            else:
                out.append({**by_index[entry.item], "score": score})
    if len(out) < n:
        out += [item for item, index in zip(items, indices, strict=True) if index in again
                ][: n - len(out)]
    return out


def _with_session_oracle(items: list[dict[str, object]], index_of: dict[str, int],
                         recent: list[int], similar: dict[int, tuple[list[int], list[float]]],
                         config: RealtimeConfig, again: set[int], blocked: frozenset[int],
                         kind_of: list[str], kind: str, category_of: list[str],
                         category: str | None, seen: frozenset[int], repeatable: list[bool],
                         weight: float, n: int, ids: list[str]
                         ) -> tuple[list[dict[str, object]], bool]:
    """``serving.ranking.with_session`` as it was composed in Python: the session ranking, its
    filter, the fusion and the response items."""
    ranked, because = realtime.session_ranking(recent, similar.get, config)
    session = _walk.allowed(ranked, set(again), blocked, kind_of, kind, category_of, category,
                            n, seen, repeatable) if ranked else []
    return _blend_oracle(items, index_of, again, session, ranked, [because[i] for i in ranked],
                         weight, config.offset, n, ids), bool(session)


@pytest.mark.parametrize("seed", range(3))
def test_with_session_gives_what_the_python_composition_gave(seed: int) -> None:
    rng = random.Random(seed)
    n_items = rng.choice([30, 400])
    ids = [f"i{i}" for i in range(n_items)]
    index_of = {item_id: index for index, item_id in enumerate(ids)}
    kind_of = [rng.choice(KINDS) for _ in range(n_items)]
    category_of = [rng.choice(CATEGORIES) for _ in range(n_items)]
    repeatable = [category == "breakfast" for category in category_of]
    similar = random_similar(rng, n_items, 0.9)
    for _ in range(1_500):
        mine = rng.sample(range(n_items), rng.randrange(0, 16))
        items: list[dict[str, object]] = [
            {"item_id": ids[i], "score": round(rng.uniform(0, 2), 4),
             "reason": rng.choice(["personalized", "slot:b", "new", "popular"]),
             **({"title": f"t{i}"} if rng.random() < 0.3 else {})} for i in mine]
        recent = [rng.randrange(n_items) for _ in range(rng.randrange(0, 8))] + rng.sample(
            mine, min(len(mine), rng.randrange(0, 3)))
        again = {item for item in recent if not repeatable[item]}
        blocked = frozenset(rng.sample(range(n_items), rng.randrange(0, 6)))
        seen = frozenset(rng.sample(range(n_items), rng.randrange(0, 12)))
        kind, category = rng.choice(KINDS), rng.choice([None, None, *CATEGORIES])
        config = RealtimeConfig(session_items=rng.randrange(1, 8),
                                session_depth=rng.randrange(1, 35),
                                decay=rng.choice([1.0, 0.7, rng.uniform(0.01, 1.0)]),
                                session_offset=rng.choice([1, 2, 7]),
                                offset=rng.choice([1, 10]))
        weight, n = rng.choice([0.0, 1.5, 2.0]), rng.randrange(0, 14)
        expected = _with_session_oracle(items, index_of, recent, similar, config, again,
                                        blocked, kind_of, kind, category_of, category, seen,
                                        repeatable, weight, n, ids)
        for lists in (similar, compact(similar)):
            before = set(again)
            got = _walk.with_session(
                items, index_of, realtime.newest(recent, config), lists.get,
                config.session_depth, config.session_offset, config.decay, again, blocked,
                kind_of, kind, category_of, category, seen, repeatable, weight, config.offset,
                n, ids, "session")
            assert got == expected
            assert again == before


def _one_session_item(score: float) -> object:
    """The score with_session gives a session item whose fused score is ``score``: weight w
    puts the one candidate of an empty list at w / (offset + 1)."""
    out, _ = _walk.with_session([], {}, [0], {0: ([1], [1.0])}.get, 30, 2, 0.7, set(),
                                frozenset(), ["p", "p"], "p", ["c", "c"], None, frozenset(),
                                None, score * 2, 1, 5, ["a", "b"], "session")
    return out[0]["score"]


def test_scores_are_rounded_as_python_rounds_them() -> None:
    """The C rounding's fast path (the nearest integer of score * 10^4, when clearly not half
    way) and its fallback (Python's round) give Python's ``round(score * 100, 4)``, the sign of
    zero included."""
    rng = random.Random(4)
    values = [rng.uniform(0, 0.2) for _ in range(20_000)]
    values += [k / 1e6 + 5e-7 for k in range(0, 200_000, 7)]  # half way at 4 places, x 100
    values += [0.285, 1.00005, 2.5e-5, 21474.83648, 1e300, 1e-320, 0.0]
    for value in values:
        fused = value * 2 / (1 + 1)  # the fusion's own arithmetic: weight / (offset + rank)
        got, want = _one_session_item(value), round(fused * 100, 4)
        assert got == want and math.copysign(1, got) == math.copysign(1, want), value  # type: ignore[arg-type]


def test_with_session_refuses_an_item_it_cannot_place() -> None:
    with pytest.raises(KeyError):  # an id outside the catalog
        _walk.with_session([{"item_id": "zz", "score": 1.0, "reason": "p"}], {"a": 0}, [],
                           {}.get, 30, 2, 0.7, set(), frozenset(), ["p"], "p", ["c"], None,
                           frozenset(), None, 1.0, 10, 5, ["a"], "session")
