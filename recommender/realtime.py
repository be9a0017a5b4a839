"""Real-time personalization: what a user did since the last publish changes what they get next.
Pure: no Redis, no I/O. Serving (``serving.ranking``) and the offline replay
(``recommender.evaluation.replay``) run these same functions.

- **Session candidates** (``session_ranking``): the similar-item lists of the user's newest live
  items fused by weighted reciprocal rank: the similar item at rank r (from 1) of a live item
  adds ``w / (session_offset + r)``, the newest live item weighing 1 and each older one
  ``decay`` times the next. Ranks, not summed similarities, which let items a little similar
  to every live item outrank each one's best neighbours (the replay measured it:
  ``benchmarks/RESULTS.md``, ``## replay``). Each candidate remembers the live item that
  brought it most (its explanation). The live items themselves are not candidates.
- **Fusion** (``fuse``): two ranked lists merged by weighted reciprocal rank: the item at rank r
  (from 1) of a list adds ``weight / (offset + r)``. Scale-free, so a model's scores, similar
  scores and counts mix without calibration. A known user's published list is fused with the
  session ranking (``session_weight``); a user the model does not know gets popular fused with
  the session ranking (``new_user_weight``); popular lists are training popularity fused with
  trending (``trending_weight``).
- **Trending** (``trending``): counts of live events over the last ``trending_hours``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from recommender import _realtime
from recommender.config import RealtimeConfig, SlotConfig, parse_hhmm
from recommender.rules import in_window, local_time

Neighbours = Callable[[int], tuple[Sequence[int], Sequence[float]] | None]
"""An item index -> its similar items and their scores, best first (``None``: no list)."""


class Fused(NamedTuple):
    """One item of a fused list: its fused score and whether the second list brought it (it is
    not in the first, or its contribution from the second list is the larger). A named tuple
    (``fuse`` builds it as a tuple subclass, without its Python ``__new__``)."""

    item: int
    score: float
    second: bool


def session_ranking(recent: Sequence[int], neighbours: Neighbours, config: RealtimeConfig
                    ) -> tuple[list[int], Because]:
    """Session candidates best first, and candidate -> the live item that brought it.

    ``recent`` are the user's live items, oldest first (see the module docstring). A similar
    list names an item once, as publish writes them; its tail with scores <= 0 is not similar
    at all and is left out. The lists are summed, sorted and explained in C
    (``recommender._realtime``): about 150 additions a request with live items.
    """
    ranked, sources = _realtime.session(newest(recent, config), neighbours,
                                        config.session_depth, config.session_offset,
                                        config.decay)
    return ranked, Because(ranked, sources)


def newest(recent: Sequence[int], config: RealtimeConfig) -> list[int]:
    """The live items a session ranking starts from: the newest ``session_items`` distinct
    ones of ``recent`` (oldest first), newest first."""
    return list(dict.fromkeys(reversed(recent)))[: config.session_items]


class Because(Mapping[int, int]):
    """Candidate -> the live item that brought it, looked up for the few candidates a response
    shows (building a dictionary of every candidate costs more than the ranking)."""

    __slots__ = ("ranked", "sources")

    def __init__(self, ranked: list[int], sources: list[int]) -> None:
        self.ranked, self.sources = ranked, sources

    def __getitem__(self, candidate: int) -> int:
        try:
            return self.sources[self.ranked.index(candidate)]
        except ValueError:
            raise KeyError(candidate) from None

    def __iter__(self) -> Iterator[int]:
        return iter(self.ranked)

    def __len__(self) -> int:
        return len(self.ranked)


def fuse(first: Sequence[int], second: Sequence[int], weight: float, offset: int,
         n: int) -> list[Fused]:
    """The ``n`` best items of ``first`` (weight 1) and ``second`` (``weight``) by weighted
    reciprocal rank; ties keep ``first``'s order (then ``second``'s). An item repeated in
    ``first`` counts once. In C (``recommender._realtime``)."""
    return _realtime.fuse(first, second, weight, offset, n, Fused)


def trending(counts: Iterable[Mapping[int, float]]) -> list[int]:
    """Items by their summed counts over the given windows (e.g. hours), most counted first."""
    total: dict[int, float] = {}
    for window in counts:
        for item, count in window.items():
            total[item] = total.get(item, 0.0) + count
    return sorted(total, key=lambda item: (-total[item], item))


def trending_hours(now_hour: int, config: RealtimeConfig) -> list[int]:
    """The hour numbers (epoch seconds // 3600) of the trending window ending at ``now_hour``."""
    return list(range(now_hour - config.trending_hours + 1, now_hour + 1))


def in_slot_hours(hours: Sequence[int], slot: SlotConfig, zone: ZoneInfo) -> list[int]:
    """The hours (epoch hours) of ``hours`` during which ``slot`` is active at some point (its
    start or end minute, local time in ``zone``): a slot's trending list counts those."""
    start, end = parse_hhmm(slot.start), parse_hhmm(slot.end)
    out = []
    for hour in hours:
        first = datetime.fromtimestamp(hour * 3600, UTC)
        last = first + timedelta(minutes=59)
        if (in_window(local_time(first, zone), start, end)
                or in_window(local_time(last, zone), start, end)
                or in_window(start, local_time(first, zone), local_time(last, zone))):
            out.append(hour)
    return out


def with_trending(popular: Sequence[int], trend: Sequence[int], config: RealtimeConfig,
                  n: int) -> list[Fused]:
    """A popular list fused with a trending one (``trending_weight``): what users without live
    events get, and what fills or starts everyone else's list."""
    return fuse(popular, trend, config.trending_weight, config.offset, n)
