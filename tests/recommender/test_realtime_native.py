"""recommender._realtime (C) behind ``session_ranking`` and ``fuse``, against the Python loops it
replaced: the same candidates in the same order, the same scores to the bit, the same
explanations."""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence

import pytest

from recommender import realtime
from recommender.config import RealtimeConfig


def _session_oracle(recent: Sequence[int], neighbours: realtime.Neighbours,
                    config: RealtimeConfig) -> tuple[list[int], dict[int, int]]:
    newest = list(dict.fromkeys(reversed(recent)))[: config.session_items]
    total: dict[int, float] = {}
    best: dict[int, float] = {}
    source: dict[int, int] = {}
    for age, item in enumerate(newest):
        found = neighbours(item)
        if found is None:
            continue
        items, scores = found
        n = min(config.session_depth, len(items), len(scores))
        while n and scores[n - 1] <= 0:
            n -= 1
        weight = 1.0
        for _ in range(age):
            weight *= config.decay
        for rank, other in enumerate(items[:n], start=1):
            value = weight * (1.0 / (config.session_offset + rank))
            if other not in total:
                total[other] = best[other] = value
                source[other] = item
            else:
                total[other] += value
                if value > best[other]:
                    best[other], source[other] = value, item
    for item in newest:
        total.pop(item, None)
    return sorted(total, key=total.__getitem__, reverse=True), source


def _fuse_oracle(first: Sequence[int], second: Sequence[int], weight: float, offset: int,
                 n: int) -> list[tuple[int, float, bool]]:
    scores: dict[int, float] = {}
    from_first: dict[int, float] = {}
    for rank, item in enumerate(first, start=1):
        if item not in scores:
            scores[item] = from_first[item] = 1.0 / (offset + rank)
    for rank, item in enumerate(second, start=1):
        scores[item] = scores.get(item, 0.0) + weight / (offset + rank)
    order = sorted(scores, key=scores.__getitem__, reverse=True)[:n]
    return [(item, scores[item], item not in from_first
             or scores[item] - from_first[item] > from_first[item]) for item in order]


def random_similar(rng: random.Random, pool: int, share: float
                   ) -> dict[int, tuple[list[int], list[float]]]:
    """Similar lists for ``share`` of the items of ``pool``: up to 39 items each, scores best
    first with ties, zeros and negative tails."""
    similar = {}
    for item in range(pool):
        if rng.random() < share:
            others = rng.sample(range(pool), min(rng.randrange(40), pool))
            scores = sorted((rng.choice([rng.random(), 0.5, 0.0, -0.1]) for _ in others),
                            reverse=True)
            similar[item] = (others, scores)
    return similar


def compact(similar: dict[int, tuple[list[int], list[float]]]
            ) -> dict[int, tuple[array[int], array[float]]]:
    """The lists as serving keeps them (``VersionView.neighbours``)."""
    return {item: (array("l", others), array("d", scores))
            for item, (others, scores) in similar.items()}


@pytest.mark.parametrize("seed", range(3))
def test_session_ranking_gives_what_the_python_loop_gave(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(1_500):
        pool = rng.randrange(2, 90)
        similar = random_similar(rng, pool, 0.85)
        recent = [rng.randrange(pool) for _ in range(rng.randrange(12))]
        config = RealtimeConfig(session_items=rng.randrange(1, 8),
                                session_depth=rng.randrange(1, 35),
                                decay=rng.choice([1.0, 0.7, 0.5, rng.uniform(0.01, 1.0)]),
                                session_offset=rng.choice([1, 2, 7]))
        expected, expected_source = _session_oracle(recent, similar.get, config)
        for lists in (similar, compact(similar)):
            ranked, source = realtime.session_ranking(recent, lists.get, config)
            assert ranked == expected
            assert all(type(item) is int for item in ranked)
            assert {item: source[item] for item in ranked} == {
                item: expected_source[item] for item in expected}


def test_compact_lists_are_arrays_of_c_longs_and_doubles_both() -> None:
    """Items as an array of C longs with scores in a list (or of another type) are refused,
    not misread; other sequences are read item by item."""
    config = RealtimeConfig()
    with pytest.raises(TypeError, match="compact scores"):
        realtime.session_ranking([0], lambda _: (array("l", [1]), [0.5]), config)
    with pytest.raises(TypeError, match="compact scores"):
        realtime.session_ranking([0], lambda _: (array("l", [1]), array("f", [0.5])), config)
    ranked, _ = realtime.session_ranking([0], lambda _: (array("i", [1, 2]), (0.5, 0.25)), config)
    assert ranked == [1, 2]


def test_an_item_that_is_no_candidate_has_no_explanation() -> None:
    ranked, source = realtime.session_ranking([0], {0: ([0, 1], [1.0, 0.5])}.get,
                                              RealtimeConfig())
    assert ranked == [1] and source[1] == 0
    with pytest.raises(KeyError):
        source[0]  # a live item is never its own candidate


@pytest.mark.parametrize("seed", range(3))
def test_fuse_gives_what_the_python_loop_gave(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(5_000):
        first = [rng.randrange(60) for _ in range(rng.randrange(25))]
        second = [rng.randrange(60) for _ in range(rng.randrange(25))]
        weight = rng.choice([0.0, 0.5, 1.0, 1.5, rng.uniform(0, 3)])
        offset, n = rng.choice([1, 2, 10, 60]), rng.randrange(30)
        fused = realtime.fuse(first, second, weight, offset, n)
        assert [tuple(entry) for entry in fused] == _fuse_oracle(first, second, weight, offset, n)
        assert all(isinstance(entry, realtime.Fused) for entry in fused)
