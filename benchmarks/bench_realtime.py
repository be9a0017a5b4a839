"""Benchmark: what real-time personalization adds to a recommendation request's ranking.

A catalog of N items (5k and 50k by default), each with a 100-item similar list encoded as
publish writes it (``storage.codec``), and a known user with a 100-item list. Timed in one
process, several rounds alternating, median per call:

- reference: the ranking of a known user without live items (``serving.ranking.personalized``
  and the blocked set), the path of every request before real time;
- ours: the same plus five live items, as ``serving.service`` runs it: the list asked for five
  more, then ``serving.ranking.with_session`` (live items moved out, session ranking from the
  similar lists, rank fusion).

The added median cost is ours - reference; the target (issue 10) is <= 0.3 ms at 50k items.
Redis bytes of live state per active user (a ``recent`` sorted set of ``realtime.max_items``
members) are measured with ``MEMORY USAGE`` on a private Redis. Results go to the
``## bench_realtime`` section of ``benchmarks/RESULTS.md``.

Usage::

    .venv/bin/python benchmarks/bench_realtime.py [--items 5000,50000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from shop_synth import private_redis, write_section  # noqa: E402

from recommender.config import RealtimeConfig, RecsysConfig  # noqa: E402
from recommender.lists import empty_list  # noqa: E402
from recommender.rules import SlotClock  # noqa: E402
from serving import ranking  # noqa: E402
from serving.version import VersionView  # noqa: E402
from storage.codec import encode_lists  # noqa: E402
from storage.keys import Keys  # noqa: E402
from storage.manifest import Manifest  # noqa: E402

SECTION = "## bench_realtime"
TARGET_MS = 0.3
LIVE_ITEMS = 5


def make_view(n_items: int, rng: np.random.Generator) -> VersionView:
    """A version of ``n_items`` products in 7 categories, every item with 100 similar ones."""
    ids = [f"i{i:06d}" for i in range(n_items)]
    categories = [f"c{c}" for c in rng.integers(0, 7, n_items)]
    neighbours = np.stack([rng.choice(n_items, 100, replace=False) for _ in range(n_items)])
    scores = np.sort(rng.random((n_items, 100)), axis=1)[:, ::-1].astype(np.float32)
    blobs = encode_lists(neighbours, scores, n_items)
    config = RecsysConfig()
    manifest = Manifest(name="bench", version="1", namespace="bench:1:x",
                        published_at=datetime.now(UTC), algorithm="itemknn", top_n=100,
                        users=1, items=n_items, model_items=n_items, user_buckets=1,
                        item_buckets=1, kinds=["product"], slot_lists={},
                        categories=sorted(set(categories)), rules=config.rules,
                        push=config.push, events=config.events, serving=config.serving,
                        realtime=RealtimeConfig())
    return VersionView(
        name="bench", version="1", namespace="bench:1:x", keys=Keys("b:").version("bench:1:x"),
        manifest=manifest, clock=SlotClock(config.rules), repeatable_categories=frozenset(),
        categories=frozenset(categories), user_buckets=1, item_buckets=1,
        kinds=frozenset(["product"]), slot_lists={}, item_ids=ids,
        index_of={item: i for i, item in enumerate(ids)}, kind_of=["product"] * n_items,
        category_of=categories, repeatable=[False] * n_items, slot_member={}, slot_flags={},
        popular={}, new_items={}, new_item_ids={},
        similar_of=dict(enumerate(blobs)), title_of=[None] * n_items)


def median_us(call: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        call()  # type: ignore[operator]
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1000


def measure(n_items: int, rounds: int, repeat: int) -> dict[str, float]:
    rng = np.random.default_rng(7)
    view = make_view(n_items, rng)
    own = encode_lists(rng.choice(n_items, (1, 100), replace=False),
                       np.sort(rng.random((1, 100)))[:, ::-1].astype(np.float32), n_items)[0]
    recent = rng.choice(n_items, LIVE_ITEMS, replace=False).tolist()
    purchased = [view.item_ids[i] for i in rng.choice(n_items, 5, replace=False)]

    def reference() -> list[ranking.Item]:
        blocked = ranking.blocked_items(view, purchased, [], [])
        request = ranking.Request("product", 10, None, None, blocked, empty_list())
        return ranking.personalized(view, request, own, None, None)

    def ours() -> list[ranking.Item]:
        blocked = ranking.blocked_items(view, purchased, [], [])
        request = ranking.Request("product", 10 + len(recent), None, None, blocked,
                                  empty_list())
        items = ranking.personalized(view, request, own, None, None)
        return ranking.with_session(view, request, items, recent, 1.0, 10)[0]

    assert any(item["reason"] == "session" for item in ours())
    ref, live = [], []
    for _ in range(rounds):  # alternating, so drift hits both
        ref.append(median_us(reference, repeat))
        live.append(median_us(ours, repeat))
    return {"items": n_items, "reference_us": statistics.median(ref),
            "ours_us": statistics.median(live),
            "added_us": statistics.median(live) - statistics.median(ref),
            "spread_us": max(live) - min(live)}


def live_state_bytes(max_items: int) -> int:
    """``MEMORY USAGE`` of one user's ``recent`` set holding ``max_items`` typical ids."""
    with private_redis() as url:
        client = redis.Redis.from_url(url)
        key = Keys("b:").recent("u0012345")
        now = time.time()
        client.zadd(key, {f"p{i:05d}": now - i for i in range(max_items)})
        client.expire(key, 3600)
        return int(client.memory_usage(key, samples=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", default="5000,50000")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    rows = [measure(int(n), args.rounds, args.repeat) for n in args.items.split(",")]
    per_user = live_state_bytes(RealtimeConfig().max_items)
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, Python "
        f"{platform.python_version()}: `.venv/bin/python benchmarks/bench_realtime.py "
        f"--items {args.items} --rounds {args.rounds} --repeat {args.repeat}`. Median per call "
        f"of {args.repeat} calls, median of {args.rounds} alternating rounds; a known user's "
        f"10-item list from a 100-item list, with and without {LIVE_ITEMS} live items "
        "(100-item similar lists).",
        "",
        "| items | reference (no live items) µs | with live items µs | added µs | "
        "target µs | spread of ours µs |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['items']:,} | {row['reference_us']:.1f} | {row['ours_us']:.1f} | "
                     f"{row['added_us']:.1f} | {TARGET_MS * 1000:.0f} | "
                     f"{row['spread_us']:.1f} |")
    lines += ["", f"Live state per active user: one `recent` sorted set of up to "
              f"{RealtimeConfig().max_items} items (`realtime.max_items`), {per_user} bytes "
              "(`MEMORY USAGE`, 8-character ids), expiring `realtime.window_hours` after the "
              "user's last event; the `purchased` set (up to 200 items, 30 days) was there "
              "before. Serving also keeps every similar list of the live version in memory "
              "(the bytes publish wrote, about 3 bytes an entry), and the first "
              "`session_depth` entries of those a session read, as compact arrays "
              "(`VersionView.neighbours`: 16 bytes an entry, at most 8,192 lists)."]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(ROOT / "benchmarks" / "RESULTS.md", SECTION, text)


if __name__ == "__main__":
    main()
