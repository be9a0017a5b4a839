"""Benchmark: GET /v1/users/{id}/recommendations against a one-Redis-GET reference app.

On a private ``redis-server``, a synthetic shop (``shop_synth``, 10k users) is published with ALS.
Then, in the same run and with the same server settings (uvicorn, uvloop + httptools, 1 worker,
no access log), wrk (1 thread, 32 connections, a Lua script cycling through the 10k user ids)
loads in turn:

- reference: a minimal FastAPI route that does one Redis GET of the user's encoded 100-item list
  (the same bytes publish wrote) and returns the bytes;
- ours: ``serving.main`` (API key check, live version, one Redis round trip, slot rules, purchased
  and unavailable filters, new items, popular fill, JSON with orjson, Prometheus metrics).

Rounds alternate reference and ours. Targets: throughput >= 0.8x the reference, p99 <= 1.5x.
Results go to the ``## bench_serving`` section of ``benchmarks/RESULTS.md``.

Usage::

    .venv/bin/python benchmarks/bench_serving.py [--duration 30] [--rounds 2] [--at ISO]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
import redis.asyncio as aredis
from fastapi import FastAPI
from starlette.responses import Response

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from shop_synth import free_port, private_redis, synthetic_shop, write_section  # noqa: E402

from recommender.config import RecsysConfig  # noqa: E402
from recommender.keys import Keys, bucket_of  # noqa: E402

SECTION = "## bench_serving"
API_KEY = "bench-key"
PREFIX = "bench:"
REFERENCE_KEY = "bench:ref:{}"
UVICORN = ["--loop", "uvloop", "--http", "httptools", "--workers", "1", "--no-access-log",
           "--log-level", "warning", "--host", "127.0.0.1"]
LUA = """
local i = 0
request = function()
  i = (i + 1) % {users}
  return wrk.format("GET", "/v1/users/u" .. i .. "/recommendations?n=10{query}",
                    {{["X-API-Key"] = "{key}"}})
end
"""


def reference_app() -> FastAPI:
    """The reference: one Redis GET per request, the bytes returned as they are."""
    app = FastAPI()
    client = aredis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    @app.get("/v1/users/{user_id}/recommendations")
    async def recommendations(user_id: str) -> Response:
        return Response(await client.get(REFERENCE_KEY.format(user_id)),
                        media_type="application/octet-stream")

    return app


@dataclass(frozen=True)
class Load:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(port: int, script: Path, seconds: int, connections: int) -> Load:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}"], capture_output=True, text=True, check=True,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return Load(
        requests_per_second=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        p50_ms=_ms(re.search(r"50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"99%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
        errors=int(errors.group(1)) if errors else 0,
    )


def start_server(target: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *target, *UVICORN, "--port", str(port)],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/users/u1/recommendations",
                                   timeout=1)
            return process
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error still means it is up
                return process
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit(f"server {target} did not start") from exc
            time.sleep(0.2)


def publish_shop(url: str, users: int, items: int) -> None:
    from recommender.models import make_model
    from training.publish import publish_version

    train, catalog = synthetic_shop(users, items, seed=3)
    model = make_model("als", {"factors": 32, "iterations": 5}).fit(train.matrix)
    config = RecsysConfig.model_validate({"serving": {"prefix": PREFIX}})
    client = redis.Redis.from_url(url)
    stats = publish_version(client, "bench", "1", model, train, catalog, config)
    print(f"published {stats.users:,} users x {stats.items:,} items in {stats.seconds:.1f} s")
    keys = Keys(PREFIX).version(stats.namespace)
    user_buckets = json.loads(client.get(keys.meta()))["user_buckets"]
    pipe = client.pipeline(transaction=False)
    for user in range(users):
        pipe.hget(keys.recs("product", bucket_of(f"u{user}", user_buckets)), f"u{user}")
    lists = pipe.execute()
    for user, value in enumerate(lists):
        pipe.set(REFERENCE_KEY.format(f"u{user}"), value)
    pipe.execute()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--duration", type=int, default=30, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--at", default="", help="ISO instant for `at=` (default: now)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")

    results: dict[str, list[Load]] = {"reference": [], "ours": []}
    with private_redis() as url, tempfile.TemporaryDirectory() as tmp:
        publish_shop(url, args.users, args.items)
        query = f"&at={args.at}" if args.at else ""
        script = Path(tmp) / "users.lua"
        script.write_text(LUA.format(users=args.users, query=query, key=API_KEY))
        env = {**os.environ, "BENCH_REDIS_URL": url, "RECSYS_REDIS_URL": url,
               "RECSYS_API_KEYS": API_KEY, "RECSYS_PREFIX": PREFIX,
               "PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}"}
        targets = {
            "reference": ["--factory", "bench_serving:reference_app"],
            "ours": ["--factory", "serving.main:app_factory"],
        }
        for round_ in range(args.rounds):
            for name, target in targets.items():
                port = free_port()
                server = start_server(target, port, env)
                try:
                    run_wrk(port, script, args.warmup, args.connections)
                    load = run_wrk(port, script, args.duration, args.connections)
                finally:
                    server.terminate()
                    server.wait(timeout=10)
                results[name].append(load)
                print(f"round {round_ + 1} {name}: {load}")

    def mean(name: str, field: str) -> float:
        return sum(getattr(r, field) for r in results[name]) / len(results[name])

    throughput = mean("ours", "requests_per_second") / mean("reference", "requests_per_second")
    p99 = mean("ours", "p99_ms") / mean("reference", "p99_ms")
    rows = "\n".join(
        f"| {round_ + 1} | {name} | {r.requests_per_second:,.0f} | {r.p50_ms:.2f} | "
        f"{r.p99_ms:.2f} | {r.errors} |"
        for round_ in range(args.rounds) for name in ("reference", "ours")
        for r in [results[name][round_]]
    )
    body = f"""Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, \
{os.cpu_count()} CPUs (shared with other jobs), Python {platform.python_version()}; \
`{" ".join(["benchmarks/bench_serving.py", *sys.argv[1:]])}`.

wrk 1 thread, {args.connections} connections, {args.duration} s per measurement after \
{args.warmup} s of warm-up, GET `/v1/users/u<i>/recommendations?n=10{query}` cycling through \
{args.users:,} users; uvicorn with uvloop + httptools, 1 worker, no access log, for both; a \
private redis-server on the same machine. Reference: a minimal FastAPI route doing one Redis GET \
of the user's encoded 100-item list and returning the bytes.

| round | app | requests/s | p50 ms | p99 ms | non-2xx |
|---|---|---:|---:|---:|---:|
{rows}

| mean over rounds | ratio | target |
|---|---:|---|
| throughput, ours / reference | **{throughput:.2f}x** | >= 0.8x |
| p99, ours / reference | **{p99:.2f}x** | <= 1.5x |
"""
    print(body)
    write_section(args.out, SECTION, body)
    print(f"wrote the {SECTION} section of {args.out}")


if __name__ == "__main__":
    main()
