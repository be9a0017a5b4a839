"""Soak benchmark: N events through ``POST /v1/events`` and the sink; Redis memory before/after.

On a private ``redis-server`` (no persistence), ``serving.main.create_app`` is driven in-process
by httpx (``ASGITransport``): ``--events`` events (default 1,000,000) are posted in calls of
``--per-call`` (1,000), in ``--rounds`` rounds; after each round ``training.sink.EventSink``
drains the stream to Parquet (and trims it). The events: ``--users`` users, ``--items`` items,
the default vocabulary (5% purchases), timestamps over the last 7 days, an ``event_id`` on a
share ``--id-share`` of them (the way to exactly-once; the ids are remembered in a bounded
window: ``storage.events.DEDUPE_PER_SHARD``).

Reported: Redis ``used_memory`` before the first event and after each round, the stream's length,
the ``event_id`` de-duplication shards (bounded: their memory by ``MEMORY USAGE``, shown
apart), the users' ``purchased`` keys (bounded per user), and rows
in (events accepted by the API) against rows out (rows ``load_events`` reads back, strict, so a
doubled ``event_id`` would fail it). A 429 is waited out as its ``Retry-After`` says.

Results go to the ``## bench_soak`` section of ``benchmarks/RESULTS.md``.

Usage::

    .venv/bin/python benchmarks/bench_soak.py [--events 1000000] [--rounds 10] [--per-call 1000]
        [--users 50000] [--items 5000] [--id-share 1.0] [--no-write]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from shop_synth import private_redis, write_section  # noqa: E402

from recommender.data import load_events  # noqa: E402
from serving.main import create_app  # noqa: E402
from serving.settings import load_settings  # noqa: E402
from storage.connect import SyncClient, connect  # noqa: E402
from storage.keys import Keys  # noqa: E402
from training.sink import EventSink  # noqa: E402

SECTION = "## bench_soak"
PREFIX = "soak:"
API_KEY = "soak-key"
EVENTS = np.array(["view", "click", "favorite", "cart", "share", "purchase"])
SHARES = np.array([0.6, 0.2, 0.03, 0.1, 0.02, 0.05])
WEEK = 7 * 24 * 3600
SAMPLE = 1000


@dataclass
class Round:
    posted: int
    accepted: int
    used_memory: int
    stream: int
    post_seconds: float
    sink_seconds: float


def batches(args: argparse.Namespace, rng: np.random.Generator) -> Iterator[list[dict[str, Any]]]:
    """The events, ``per_call`` at a time."""
    now = time.time()
    for start in range(0, args.events, args.per_call):
        size = min(args.per_call, args.events - start)
        users = rng.integers(0, args.users, size)
        items = rng.integers(0, args.items, size)
        kinds = rng.choice(len(EVENTS), size, p=SHARES)
        times = now - rng.random(size) * WEEK
        with_id = rng.random(size) < args.id_share
        yield [{"user_id": f"u{u}", "item_id": f"p{i}", "event": str(EVENTS[k]),
                "timestamp": float(round(t, 3)),
                **({"event_id": f"e{start + n}"} if has_id else {})}
               for n, (u, i, k, t, has_id) in enumerate(zip(users, items, kinds, times, with_id,
                                                            strict=True))]


async def post(client: httpx.AsyncClient, events: list[dict[str, Any]]) -> int:
    """Post one call; the number accepted (a 429 is waited out)."""
    while True:
        response = await client.post("/v1/events", json=events)
        if response.status_code == 429:
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        if response.status_code != 202:
            raise SystemExit(f"POST /v1/events: {response.status_code} {response.text[:300]}")
        return int(response.json()["accepted"])


def keys_matching(client: SyncClient, pattern: str) -> list[bytes]:
    return list(client.scan_iter(match=pattern, count=10_000))


def memory_of(client: SyncClient, keys: list[bytes], rng: np.random.Generator) -> int:
    """Estimated bytes of ``keys``: ``MEMORY USAGE`` of a sample, scaled."""
    if not keys:
        return 0
    sample = [keys[i] for i in rng.choice(len(keys), min(SAMPLE, len(keys)), replace=False)]
    pipe = client.pipeline(transaction=False)
    for key in sample:
        pipe.memory_usage(key, samples=0)
    sizes = [size or 0 for size in pipe.execute()]
    return int(sum(sizes) / len(sample) * len(keys))


async def soak(args: argparse.Namespace, url: str, out: Path) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    keys = Keys(PREFIX)
    client = connect(url)
    app = create_app(load_settings(redis_url=url, prefix=PREFIX, api_keys=API_KEY))
    sink = EventSink(client, keys, out, batch=args.per_call)
    transport = httpx.ASGITransport(app=app)
    rounds: list[Round] = []
    total_calls = -(-args.events // args.per_call)
    async with httpx.AsyncClient(transport=transport, base_url="http://soak",
                                 headers={"X-API-Key": API_KEY}, timeout=60) as api:
        before = int(client.info("memory")["used_memory"])
        calls, posted, accepted = batches(args, rng), 0, 0
        for number in range(args.rounds):
            started = time.perf_counter()
            for _ in range(total_calls * (number + 1) // args.rounds
                           - total_calls * number // args.rounds):
                events = next(calls)
                posted += len(events)
                accepted += await post(api, events)
            posted_at = time.perf_counter()
            sink.run(once=True)
            drained_at = time.perf_counter()
            rounds.append(Round(posted, accepted, int(client.info("memory")["used_memory"]),
                                int(client.xlen(keys.events())), posted_at - started,
                                drained_at - posted_at))
            print(f"{posted:>10,} events: used_memory {rounds[-1].used_memory / 2**20:7.1f} MiB,"
                  f" stream {rounds[-1].stream:,}", flush=True)
    await app.state.store.close()
    seen = keys_matching(client, f"{PREFIX}{{events}}:ids:*")
    purchased = keys_matching(client, f"{PREFIX}u:*:purchased")
    loaded = load_events(out)
    result = {
        "before": before, "rounds": rounds, "accepted": accepted,
        "rows_out": len(loaded.frame), "skipped": loaded.rows_skipped,
        "seen_keys": len(seen), "seen_bytes": memory_of(client, seen, rng),
        "purchased_keys": len(purchased), "purchased_bytes": memory_of(client, purchased, rng),
        "largest_purchased": max((client.zcard(key) for key in purchased[:SAMPLE]), default=0),
        "stream_bytes": int(client.memory_usage(keys.events(), samples=0) or 0),
    }
    client.close()
    return result


def mib(value: float) -> str:
    return f"{value / 2**20:,.1f}"


def report(args: argparse.Namespace, result: dict[str, Any]) -> str:
    rounds: list[Round] = result["rounds"]
    after = rounds[-1].used_memory
    post_seconds = sum(r.post_seconds for r in rounds)
    sink_seconds = sum(r.sink_seconds for r in rounds)
    expiring = result["seen_bytes"]
    lines = [
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, Python "
        f"{platform.python_version()}: {args.events:,} events ({args.users:,} users, "
        f"{args.items:,} items, {args.id_share:.0%} with an `event_id`) posted in-process "
        f"through `POST /v1/events`, {args.per_call:,} a call, drained by `EventSink` (batch "
        f"{args.per_call:,}) after each of {len(rounds)} rounds.",
        "",
        "| events posted | used_memory MiB | stream entries | post s | sink s |",
        "|---:|---:|---:|---:|---:|",
        f"| 0 | {mib(result['before'])} | 0 | | |",
        *(f"| {r.posted:,} | {mib(r.used_memory)} | {r.stream:,} | {r.post_seconds:.1f} | "
          f"{r.sink_seconds:.1f} |" for r in rounds),
        "",
        f"- Rows in (accepted by the API): {result['accepted']:,}; rows out (`load_events`, "
        f"strict): {result['rows_out']:,}; "
        f"{'equal' if result['accepted'] == result['rows_out'] else 'NOT EQUAL'}.",
        f"- used_memory: {mib(result['before'])} MiB before, {mib(after)} MiB after "
        f"({mib(after - result['before'])} MiB more). Of that, the `event_id` de-duplication "
        f"shards: {result['seen_keys']:,} sorted sets, {mib(expiring)} MiB by `MEMORY USAGE` "
        "(bounded: each keeps its newest ids, at most 262,144 in all); the rest, "
        f"{mib(after - result['before'] - expiring)} MiB, is the "
        "keyspace's own tables, the `purchased` keys and buffers "
        "(`--id-share 0` shows it without them).",
        f"- The stream: {rounds[-1].stream:,} entries, {mib(result['stream_bytes'])} MiB "
        "after the last drain (trimmed once every group has acknowledged).",
        f"- `purchased` keys: {result['purchased_keys']:,} users, about "
        f"{mib(result['purchased_bytes'])} MiB, the largest sampled "
        f"{result['largest_purchased']} items (bounded per user, 30-day expiry).",
        f"- Throughput: {args.events / post_seconds:,.0f} events/s posted, "
        f"{args.events / sink_seconds:,.0f} events/s drained to Parquet.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-call", type=int, default=1000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--id-share", type=float, default=1.0)
    parser.add_argument("--no-write", action="store_true", help="print, do not write RESULTS.md")
    args = parser.parse_args()
    with private_redis() as url, tempfile.TemporaryDirectory() as directory:
        result = asyncio.run(soak(args, url, Path(directory)))
    text = report(args, result)
    print(text)
    if not args.no_write:
        write_section(ROOT / "benchmarks" / "RESULTS.md", SECTION, text)


if __name__ == "__main__":
    main()
