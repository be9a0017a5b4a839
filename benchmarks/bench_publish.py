"""Benchmark: publishing a model version to Redis against implicit's bare batch recommend.

A synthetic shop of 100k users x 5k items (``shop_synth``), one ALS model fitted once. In the same
run, on a private ``redis-server``:

- reference: implicit's own ``model.recommend(all_users, user_items, N=100)`` over every item
  (no kinds, no slots, nothing written anywhere);
- ours: ``publish_version`` with top-N 100: per user a product and a content list, the breakfast,
  lunch and dinner slot lists and a profile; per item the similar items and the item-KNN lists
  real-time sessions start from; popular and new-item lists; tables; all written to Redis and
  made live.

Publish runs against one Redis and against a real 3-master Redis Cluster (``--backend``), the
reference measured in each round beside it. Reports seconds, the ratio, Redis bytes
(``MEMORY USAGE``) of the whole version and per user per 100-item list. Targets: <= 600 bytes per
list, <= 1.5x the reference. Results go to the ``## bench_publish`` section of
``benchmarks/RESULTS.md``.

Usage::

    .venv/bin/python benchmarks/bench_publish.py [--users 100000] [--items 5000] [--backend both]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from shop_synth import private_redis, synthetic_shop, write_section  # noqa: E402

from recommender.config import RecsysConfig  # noqa: E402
from recommender.models import make_model  # noqa: E402
from storage.connect import connect  # noqa: E402
from tests.redis_cluster import ClusterProcess  # noqa: E402
from training.publish import publish_version  # noqa: E402

SECTION = "## bench_publish"
PARAMS = {"factors": 64, "iterations": 10, "regularization": 0.01, "alpha": 1.0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--top-n", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=2, help="best of this many of each")
    parser.add_argument("--backend", choices=("node", "cluster", "both"), default="both")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()

    train, catalog = synthetic_shop(args.users, args.items, seed=1)
    print(f"shop: {args.users:,} users x {args.items:,} items, {train.nnz:,} interactions")
    started = time.perf_counter()
    model = make_model("als", PARAMS).fit(train.matrix)
    print(f"ALS {PARAMS} fitted in {time.perf_counter() - started:.1f} s")
    native = model.model  # implicit's AlternatingLeastSquares
    all_users = np.arange(args.users)

    def bare_recommend(blas_threads: int) -> float:
        with threadpool_limits(blas_threads, user_api="blas"):
            started, cpu = time.perf_counter(), time.process_time()
            native.recommend(all_users, train.matrix, N=args.top_n)
            if blas_threads == 1:
                bare_cpu.append(time.process_time() - cpu)
            return time.perf_counter() - started

    backends = ["node", "cluster"] if args.backend == "both" else [args.backend]
    bare, bare_threaded, bare_cpu, ours_cpu = [], [], [], []
    ours: dict[str, list[float]] = {backend: [] for backend in backends}
    stats = None
    load = os.getloadavg()[0]
    for backend in backends:
        with server(backend) as url:
            client = connect(url)
            for round_ in range(args.repeats):
                bare.append(bare_recommend(1))
                bare_threaded.append(bare_recommend(os.cpu_count() or 1))
                cpu = time.process_time()
                stats = publish_version(client, "bench", str(round_ + 1), model, train, catalog,
                                        RecsysConfig(), top_n=args.top_n)
                ours_cpu.append(time.process_time() - cpu)
                ours[backend].append(stats.seconds)
                print(f"{backend} round {round_ + 1}: implicit recommend {bare[-1]:.2f} s "
                      f"({bare_threaded[-1]:.2f} s with threaded BLAS), publish "
                      f"{ours[backend][-1]:.2f} s, {stats.list_bytes:.0f} bytes/list")
                client.flushall()  # each round publishes into an empty server
    assert stats is not None
    ratios = {backend: min(times) / min(bare) for backend, times in ours.items()}
    per_user = stats.bytes / stats.users
    rows = "\n".join(
        f"| ours on {'one Redis' if backend == 'node' else 'a 3-master Redis Cluster'}: "
        f"`publish_version` (2 kinds + 3 slot lists + profile per user, similar and session "
        f"lists per item, popular, tables, go live) | {min(ours[backend]):.2f} |\n"
        f"| **ratio, {backend}** (target <= 1.5x) | **{ratios[backend]:.2f}x** "
        f"({'met' if ratios[backend] <= 1.5 else 'missed'}) |"
        for backend in backends)
    rounds = "; ".join(f"{backend}: " + ", ".join(f"{o:.2f}" for o in times)
                       for backend, times in ours.items())
    body = f"""Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, \
{os.cpu_count()} CPUs, Python {platform.python_version()}; \
`{" ".join(["benchmarks/bench_publish.py", *sys.argv[1:]])}`.

Synthetic shop: {args.users:,} users x {args.items:,} items ({train.nnz:,} interactions), ALS \
{PARAMS}, top-N {args.top_n}, a private redis-server and a private 3-master Redis Cluster, best of \
{args.repeats} on each.

| | seconds |
|---|---:|
| reference: implicit `model.recommend(all_users, user_items, N={args.top_n})`, BLAS 1 \
thread (as implicit recommends; publish ranks the same way) | {min(bare):.2f} |
| the same with BLAS's default {os.cpu_count()} threads (for information) | \
{min(bare_threaded):.2f} |
{rows}

| Redis memory (`MEMORY USAGE`, whole version) | |
|---|---:|
| keys | {stats.keys:,} |
| bytes | {stats.bytes:,} |
| bytes per user (all lists, profile, similar, tables) | {per_user:,.0f} |
| **bytes per user per {args.top_n}-item list** (target <= 600) | **{stats.list_bytes:.0f}** |

All rounds: implicit {", ".join(f"{b:.2f}" for b in bare)} s; publish {rounds} s (each \
publish round ran right after its own reference run). CPU seconds of this process in the same \
rounds (all its threads; Redis's own not counted): implicit \
{", ".join(f"{c:.2f}" for c in bare_cpu)}; publish {", ".join(f"{c:.2f}" for c in ours_cpu)}. \
The machine is shared with other jobs, so single runs vary: load average (1 min) \
{load:.2f} before the rounds, {os.getloadavg()[0]:.2f} after.
"""
    print(body)
    write_section(args.out, SECTION, body)
    print(f"wrote the {SECTION} section of {args.out}")


@contextmanager
def server(backend: str) -> Iterator[str]:
    """A private redis-server, or a private 3-master cluster; yields its URL."""
    if backend == "node":
        with private_redis() as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as directory:
        cluster = ClusterProcess(Path(directory))
        cluster.start()
        try:
            yield cluster.url
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()
