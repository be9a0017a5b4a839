"""Benchmark: GET /v1/users/{id}/recommendations against a one-Redis-GET reference app.

Two data sets, one after the other (``--data shop|synth``, default both), each on a private
``redis-server`` of its own and published with ALS (in-process, no MLflow):

- ``shop``: the synthetic shop of ``shop_synth`` (10k users x 2k items);
- ``synth``: what ``recsys data synth --users 10000 --seed 7`` writes (events and a catalog with
  new items), read with the project's loaders; requests ask for ``kind=product&n=10`` at a
  breakfast instant (``at=...T07:30:00+08:00``), so the breakfast slot list is read and merged.

Then, in the same run and with the same server settings (uvicorn, uvloop + httptools, 1 worker,
no access log), wrk (1 thread, 32 connections, a Lua script cycling through the data set's user
ids) loads in turn:

- reference: a minimal FastAPI route that does one Redis GET of the user's encoded 100-item list
  (the same bytes publish wrote) and returns the bytes;
- ours: ``serving.main`` (API key check, live version, one Redis round trip, slot rules, purchased
  and unavailable filters, new items, popular fill, JSON with orjson, Prometheus metrics).

Rounds alternate reference and ours (reference, ours, reference, ours, ...); each round's ratios
compare the two adjacent measurements. Targets: throughput ours / reference >= 1.0x, p99 ours /
reference <= 1.3x (mean of the rounds' ratios).

``--breakdown`` then runs ``serving.main.create_app`` in a fresh process, driven in-process by
httpx (``ASGITransport``) with 32 concurrent requests and then one at a time, and reports where a
request's time goes: total, inside the store's Redis calls (its async methods wrapped with timers
on the instance), JSON encoding, and Python GC pauses (``gc.callbacks``). A timer whose target
is not there (the serving code is being refactored) is skipped with a note.

Results go to the ``## bench_serving`` section of ``benchmarks/RESULTS.md`` (one table per data
set).

Usage::

    .venv/bin/python benchmarks/bench_serving.py [--data shop|synth] [--duration 30]
        [--warmup 5] [--rounds 2] [--breakdown] [--at ISO] [--synth-at ISO]
    .venv/bin/python benchmarks/bench_serving.py --self-check   # the wrk output parser only
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import gc
import importlib
import inspect
import json
import math
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import redis
from fastapi import FastAPI

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import reference_app  # noqa: E402
from shop_synth import free_port, private_redis, synthetic_shop, write_section  # noqa: E402

from recommender.config import RecsysConfig  # noqa: E402
from storage.keys import Keys, bucket_of  # noqa: E402

SECTION = "## bench_serving"
API_KEY = "bench-key"
PREFIX = "bench:"
DATA_SETS = ("shop", "synth")
ALS_PARAMS = {"factors": 32, "iterations": 5}
THROUGHPUT_TARGET = 1.0  # ours / reference, at least
P99_TARGET = 1.3  # ours / reference, at most
SYNTH_USERS = 10_000
SYNTH_SEED = 7
SYNTH_AT_TIME = "07:30:00"  # in the breakfast slot (06:30-09:30 by default)
UVICORN = ["--loop", "uvloop", "--workers", "1", "--no-access-log", "--log-level", "warning",
           "--host", "127.0.0.1"]
LUA = """
local ids = {{}}
for line in io.lines({ids_path}) do
  if #line > 0 then ids[#ids + 1] = line end
end
local i = 0
local headers = {{["X-API-Key"] = "{key}"}}
request = function()
  i = i % #ids + 1
  return wrk.format("GET", "/v1/users/" .. ids[i] .. "/recommendations?{query}", headers)
end
"""


# --------------------------------------------------------------------------- wrk output


@dataclass(frozen=True)
class Load:
    """One wrk measurement. Latencies in ms; ``nan`` where wrk did not report them."""

    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int = 0
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def socket_error_total(self) -> int:
        return sum(self.socket_errors.values())

    def __str__(self) -> str:
        text = (f"{self.requests_per_second:,.0f} req/s, p50 {self.p50_ms:.2f} ms, "
                f"p99 {self.p99_ms:.2f} ms, {self.requests:,} requests, "
                f"{self.non_2xx} non-2xx, {self.socket_error_total} socket errors")
        return f"{text} ({self.note})" if self.note else text


NAN = float("nan")
# wrk prints times with units (units.c): us, ms, s, then m and h for long ones.
_TIME_UNITS_MS = {"ns": 1e-6, "us": 1e-3, "µs": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3,
                  "h": 3600e3}
_NUMBER = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+|nan|inf)"
_TIME = re.compile(rf"({_NUMBER})\s*([a-zµ]*)", re.IGNORECASE)
_PERCENTILE = re.compile(r"^\s*(\d+(?:\.\d+)?)%\s+(\S+)\s*$")
_SOCKET = re.compile(r"Socket errors:\s*(.*)")


def _ms(value: str) -> float:
    """A wrk time (``8.02ms``, ``0.00us``, ``1.02s``, ``1.50m``) in milliseconds; ``nan`` for
    anything else (``-nan``, a missing unit, garbage)."""
    match = _TIME.fullmatch(value.strip())
    if match is None:
        return NAN
    number, unit = match.groups()
    scale = _TIME_UNITS_MS.get(unit.lower())
    if scale is None:
        return NAN
    try:
        return float(number) * scale
    except ValueError:
        return NAN


def _float(pattern: str, text: str) -> float:
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        return NAN
    try:
        return float(match.group(1))
    except ValueError:
        return NAN


def parse_wrk(text: str) -> Load:
    """What a ``wrk --latency`` run printed, read defensively: percentiles only from the lines
    under ``Latency Distribution`` (the ``+/- Stdev`` column above also ends in ``%``), the
    ``Non-2xx`` and ``Socket errors`` lines optional, ``nan`` for what is missing."""
    lines = text.splitlines()
    percentiles: dict[float, float] = {}
    start = next((i for i, line in enumerate(lines) if "Latency Distribution" in line), None)
    if start is not None:
        for line in lines[start + 1 :]:
            match = _PERCENTILE.match(line)
            if match is None:
                break
            percentiles[float(match.group(1))] = _ms(match.group(2))
    requests_match = re.search(r"^\s*(\d+)\s+requests in\b", text, re.MULTILINE)
    requests = int(requests_match.group(1)) if requests_match else 0
    non_2xx_match = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    socket_errors: dict[str, int] = {}
    socket_match = _SOCKET.search(text)
    if socket_match:
        for name, count in re.findall(r"([a-z]+)\s+(\d+)", socket_match.group(1)):
            socket_errors[name] = int(count)
    notes = []
    if requests_match is None:
        notes.append("no request count in wrk's output")
    if not percentiles:
        notes.append("no latency distribution in wrk's output")
    p50, p99 = percentiles.get(50.0, NAN), percentiles.get(99.0, NAN)
    if requests == 0:  # wrk prints 0.00us percentiles when nothing completed
        p50 = p99 = NAN
    return Load(
        requests_per_second=_float(r"^Requests/sec:\s*(\S+)", text),
        p50_ms=p50,
        p99_ms=p99,
        requests=requests,
        non_2xx=int(non_2xx_match.group(1)) if non_2xx_match else 0,
        socket_errors=socket_errors,
        note="; ".join(notes),
    )


_SAMPLE_OK = """Running 2s test @ http://127.0.0.1:18777/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    13.84ms    6.20ms  42.73ms   62.50%
    Req/Sec   432.05    104.53   640.00     97.99%
  Latency Distribution
     50%   12.60ms
     75%   18.56ms
     90%   23.74ms
     99%   28.50ms
  861 requests in 2.01s, 1.01MB read
Requests/sec:    429.32
Transfer/sec:    517.10KB
"""
_SAMPLE_ERRORS = """Running 3s test @ http://127.0.0.1:18777/nope
  1 threads and 200 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   180.02ms  269.72ms   1.88s    88.37%
    Req/Sec   657.83    115.56     0.93k    70.00%
  Latency Distribution
     50%  940.00us
     75%   13.99ms
     90%  417.95ms
     99%    1.02s
  1966 requests in 3.01s, 2.31MB read
  Socket errors: connect 0, read 2, write 0, timeout 7
  Non-2xx or 3xx responses: 1966
Requests/sec:    653.95
Transfer/sec:    787.47KB
"""
_SAMPLE_NOTHING = """Running 1s test @ http://127.0.0.1:8000
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     0.00us    0.00us   0.00us    -nan%
    Req/Sec     0.00      0.00     0.00      -nan%
  Latency Distribution
     50%    0.00us
     75%    0.00us
     90%    0.00us
     99%    0.00us
  0 requests in 1.00s, 0.00B read
  Socket errors: connect 32, read 0, write 0, timeout 0
Requests/sec:      0.00
Transfer/sec:       0.00B
"""


def self_check() -> None:
    """The parser on real wrk outputs (and the shapes that crashed it before)."""
    ok = parse_wrk(_SAMPLE_OK)
    assert (ok.requests_per_second, ok.p50_ms, ok.p99_ms, ok.requests) == (
        429.32, 12.60, 28.50, 861), ok
    assert ok.non_2xx == 0 and ok.socket_errors == {} and not ok.note, ok
    bad = parse_wrk(_SAMPLE_ERRORS)
    assert math.isclose(bad.p50_ms, 0.94) and math.isclose(bad.p99_ms, 1020.0), bad
    assert bad.non_2xx == 1966 and bad.socket_errors == {
        "connect": 0, "read": 2, "write": 0, "timeout": 7}, bad
    nothing = parse_wrk(_SAMPLE_NOTHING)
    assert nothing.requests == 0 and nothing.requests_per_second == 0.0, nothing
    assert math.isnan(nothing.p50_ms) and math.isnan(nothing.p99_ms), nothing
    assert nothing.socket_error_total == 32, nothing
    garbage = parse_wrk("unable to connect to 127.0.0.1:1 Connection refused\n")
    assert math.isnan(garbage.requests_per_second) and math.isnan(garbage.p99_ms), garbage
    assert garbage.note, garbage
    for text, expected in [("0.00us", 0.0), ("523.00us", 0.523), ("8.02ms", 8.02),
                           ("1.02s", 1020.0), ("1.50m", 90_000.0), ("12", NAN),
                           ("-nan", NAN), ("Req/Sec", NAN), ("", NAN)]:
        got = _ms(text)
        assert (math.isnan(got) and math.isnan(expected)) or math.isclose(got, expected), (
            text, got)


def run_wrk(port: int, script: Path, seconds: int, connections: int) -> Load:
    """One wrk run; a failed run (wrk's exit status, unreadable output) is a ``Load`` of
    ``nan`` with a note, not an exception."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
               f"http://127.0.0.1:{port}"]
    try:
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=seconds + 60, check=False)
    except subprocess.TimeoutExpired:
        return Load(NAN, NAN, NAN, note="wrk did not finish")
    load = parse_wrk(done.stdout)
    if done.returncode != 0:
        message = " ".join((done.stderr or done.stdout).split())[-200:]
        note = f"wrk exit status {done.returncode}: {message}"
        load = Load(NAN, NAN, NAN, load.requests, load.non_2xx, load.socket_errors, note)
    return load


# --------------------------------------------------------------------------- servers


def start_server(target: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", *target, *UVICORN, "--port", str(port)],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/bench-probe", timeout=1)
            return process
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error (404) still means it is up
                return process
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise SystemExit(f"server {target} did not start") from exc
            time.sleep(0.2)


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


# --------------------------------------------------------------------------- data sets


@dataclass
class DataSet:
    """A data set to publish and request: its interactions, catalog and request query."""

    name: str
    description: str
    train: Any  # recommender.matrix.Interactions
    catalog: Any  # pandas.DataFrame
    at: str | None
    now: datetime | None = None
    user_ids: list[str] = field(default_factory=list)

    @property
    def query(self) -> str:
        query = "kind=product&n=10"
        if self.at:
            query += "&at=" + urllib.parse.quote(self.at, safe="")
        return query


def shop_data(users: int, items: int, at: str | None) -> DataSet:
    train, catalog = synthetic_shop(users, items, seed=3)
    return DataSet(
        "shop",
        f"`shop_synth.synthetic_shop({users:,} users, {items:,} items, seed=3)`, "
        f"{train.nnz:,} interactions; " + (f"`at={at}`" if at else "no `at` (the server's now)"),
        train, catalog, at, user_ids=[str(u) for u in train.users.ids],
    )


def _recsys_command() -> list[str]:
    beside = Path(sys.executable).with_name("recsys")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("recsys")
    if found:
        return [found]
    return [sys.executable, "-c", "from recsys_cli.main import main; main()"]


def synth_data(directory: Path, at: str | None) -> DataSet:
    """``recsys data synth`` into ``directory`` (unless it already holds events.csv and
    items.csv), read with the project's loaders, the events weighted as ``recsys.toml``'s
    defaults say."""
    from recommender.data import load_catalog, load_events
    from recommender.matrix import build_interactions

    events_path, items_path = directory / "events.csv", directory / "items.csv"
    if not (events_path.exists() and items_path.exists()):
        command = [*_recsys_command(), "data", "synth", "--out", str(directory),
                   "--users", str(SYNTH_USERS), "--seed", str(SYNTH_SEED)]
        print("$", " ".join(command[-8:]))
        subprocess.run(command, check=True, cwd=ROOT)
    config = RecsysConfig()
    started = time.perf_counter()
    events = load_events(events_path, event_types=set(config.events.weights)).frame
    catalog = load_catalog(items_path).frame
    train = build_interactions(events, config.events.weights, config.events.half_life_days)
    newest = events["timestamp"].max()
    now = newest.to_pydatetime()
    if at is None:
        local_day = newest.tz_convert(config.rules.zone).strftime("%Y-%m-%d")
        offset = newest.tz_convert(config.rules.zone).strftime("%z")
        at = f"{local_day}T{SYNTH_AT_TIME}{offset[:3]}:{offset[3:]}"
    print(f"synth: {len(events):,} events, {len(train.users):,} users x {len(train.items):,} "
          f"items ({train.nnz:,} interactions) read in {time.perf_counter() - started:.1f} s")
    return DataSet(
        "synth",
        f"`recsys data synth --users {SYNTH_USERS} --seed {SYNTH_SEED}`: {len(events):,} events, "
        f"{len(train.users):,} users x {len(catalog):,} catalog items ({train.nnz:,} "
        f"interactions), published with `now` = the newest event ({now:%Y-%m-%d %H:%M} UTC) so "
        f"its new items are new; `at={at}` (breakfast slot)",
        train, catalog, at, now=now, user_ids=sorted(str(u) for u in train.users.ids),
    )


def publish(url: str, data: DataSet) -> None:
    """Fit ALS, publish with a catalog (slot lists, new items), and store each user's encoded
    product list under the reference app's key."""
    from recommender.models import make_model
    from training.publish import publish_version

    started = time.perf_counter()
    model = make_model("als", ALS_PARAMS).fit(data.train.matrix)
    print(f"{data.name}: ALS {ALS_PARAMS} fitted in {time.perf_counter() - started:.1f} s")
    config = RecsysConfig.model_validate({"serving": {"prefix": PREFIX}})
    client = redis.Redis.from_url(url)
    extra = {"now": data.now} if data.now is not None else {}
    stats = publish_version(client, "bench", "1", model, data.train, data.catalog, config,
                            **extra)
    print(f"{data.name}: published {stats.users:,} users x {stats.items:,} items in "
          f"{stats.seconds:.1f} s")
    keys = Keys(PREFIX).version(stats.namespace)
    user_buckets = json.loads(client.get(keys.meta()))["user_buckets"]
    pipe = client.pipeline(transaction=False)
    for user in data.user_ids:
        pipe.hget(keys.recs("product", bucket_of(user, user_buckets)), user)
    lists = pipe.execute()
    missing = 0
    for user, value in zip(data.user_ids, lists, strict=True):
        if value is None:
            missing += 1
        else:
            pipe.set(reference_app.KEY.format(user), value)
    pipe.execute()
    if missing:
        print(f"{data.name}: {missing:,} users have no product list (the reference returns an "
              "empty body for them, ours the popular fallback)")


def seed_live_state(url: str, data: DataSet, per_user: int) -> None:
    """Give every user ``per_user`` live items (random catalog items, as ``POST /v1/events``
    would record them), so every request of ours runs the real-time path."""
    if per_user <= 0:
        return
    client = redis.Redis.from_url(url)
    keys, rng = Keys(PREFIX), np.random.default_rng(5)
    items = data.catalog["item_id"].to_numpy(dtype=object)
    now = time.time()
    pipe = client.pipeline(transaction=False)
    for user in data.user_ids:
        key = keys.recent(user)
        chosen = rng.choice(items, per_user, replace=False)
        pipe.zadd(key, {str(item): now - i for i, item in enumerate(chosen)})
        pipe.expire(key, 3 * 86_400)
    pipe.execute()
    print(f"{data.name}: {per_user} live items for each of {len(data.user_ids):,} users")


# --------------------------------------------------------------------------- wrk rounds


def run_rounds(args: argparse.Namespace, url: str, data: DataSet,
               directory: Path) -> dict[str, list[Load]]:
    ids_path = directory / f"{data.name}-users.txt"
    ids_path.write_text("\n".join(data.user_ids) + "\n", encoding="utf-8")
    script = directory / f"{data.name}-users.lua"
    script.write_text(LUA.format(ids_path=json.dumps(str(ids_path)), query=data.query,
                                 key=API_KEY))
    # the per-key rate limit stays on (its check runs) at a rate wrk never reaches
    env = {**os.environ, "BENCH_REDIS_URL": url, "RECSYS_REDIS_URL": url,
           "RECSYS_API_KEYS": API_KEY, "RECSYS_PREFIX": PREFIX,
           "RECSYS_RATE_LIMIT_PER_SECOND": "1000000000", "RECSYS_RATE_LIMIT_BURST": "1000000000",
           "PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}"}
    targets = {  # ours with the header-size and slow-client checks `recsys serve` runs with
        "reference": ["--factory", "reference_app:reference_app", "--http", "httptools"],
        "ours": ["--factory", "serving.main:app_factory", "--http",
                 "serving.limits:LimitedHttpToolsProtocol"],
    }
    results: dict[str, list[Load]] = {"reference": [], "ours": []}
    for round_ in range(args.rounds):
        for name, target in targets.items():
            port = free_port()
            server = start_server(target, port, env)
            try:
                if args.warmup > 0:
                    run_wrk(port, script, args.warmup, args.connections)
                load = run_wrk(port, script, args.duration, args.connections)
            finally:
                stop_server(server)
            results[name].append(load)
            print(f"{data.name} round {round_ + 1} {name}: {load}")
    return results


def _ratio(ours: float, reference: float) -> float:
    if not (math.isfinite(ours) and math.isfinite(reference)) or reference == 0:
        return NAN
    return ours / reference


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else NAN


def _num(value: float, spec: str) -> str:
    return format(value, spec) if math.isfinite(value) else "n/a"


@dataclass(frozen=True)
class Summary:
    throughput: list[float]
    p99: list[float]

    @property
    def mean_throughput(self) -> float:
        return _mean(self.throughput)

    @property
    def mean_p99(self) -> float:
        return _mean(self.p99)


def summarize(results: dict[str, list[Load]]) -> Summary:
    pairs = list(zip(results["reference"], results["ours"], strict=True))
    return Summary(
        [_ratio(o.requests_per_second, r.requests_per_second) for r, o in pairs],
        [_ratio(o.p99_ms, r.p99_ms) for r, o in pairs],
    )


def _verdict(value: float, ok: bool) -> str:
    if not math.isfinite(value):
        return "n/a"
    return "met" if ok else "**missed**"


def render_rounds(data: DataSet, results: dict[str, list[Load]], summary: Summary,
                  live: int) -> str:
    rows = []
    for round_, (ref, ours) in enumerate(zip(results["reference"], results["ours"],
                                             strict=True)):
        for name, load in (("reference", ref), ("ours", ours)):
            ratios = (f"{_num(summary.throughput[round_], '.2f')}x | "
                      f"{_num(summary.p99[round_], '.2f')}x" if name == "ours" else " | ")
            rows.append(
                f"| {round_ + 1} | {name} | {_num(load.requests_per_second, ',.0f')} | "
                f"{_num(load.p50_ms, '.2f')} | {_num(load.p99_ms, '.2f')} | {load.non_2xx} | "
                f"{load.socket_error_total} | {ratios} |"
            )
    notes = [f"- round {i // 2 + 1} {('reference', 'ours')[i % 2]}: {load.note}"
             for i, load in enumerate(x for pair in zip(results["reference"], results["ours"],
                                                        strict=True) for x in pair)
             if load.note]
    throughput, p99 = summary.mean_throughput, summary.mean_p99
    table = "\n".join(rows)
    heading = f"{live} live items per user" if live else "no live items"
    text = f"""### {data.name}, {heading}

{data.description}. GET `/v1/users/<id>/recommendations?{data.query}` cycling through \
{len(data.user_ids):,} user ids.

| round | app | requests/s | p50 ms | p99 ms | non-2xx | socket errors | \
throughput ours/ref | p99 ours/ref |
|---|---|---:|---:|---:|---:|---:|---:|---:|
{table}

| mean of the rounds' ratios | ratio | target | |
|---|---:|---|---|
| throughput, ours / reference | **{_num(throughput, '.2f')}x** | >= {THROUGHPUT_TARGET:.1f}x \
| {_verdict(throughput, throughput >= THROUGHPUT_TARGET)} |
| p99, ours / reference | **{_num(p99, '.2f')}x** | <= {P99_TARGET:.1f}x \
| {_verdict(p99, p99 <= P99_TARGET)} |
"""
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return text


# --------------------------------------------------------------------------- breakdown


class Timers:
    """Per name: calls and seconds."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def add(self, name: str, seconds: float) -> None:
        self.calls[name] += 1
        self.seconds[name] += seconds

    def reset(self) -> None:
        self.calls.clear()
        self.seconds.clear()


_IN_STORE: contextvars.ContextVar[bool] = contextvars.ContextVar("in_store", default=False)
STORE_TOTAL = "store: all Redis calls (outermost)"


def _timed_store_method(method: Callable[..., Any], name: str, timers: Timers) -> Any:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        outermost = not _IN_STORE.get()
        token = _IN_STORE.set(True)
        started = time.perf_counter()
        try:
            return await method(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            _IN_STORE.reset(token)
            timers.add(name, elapsed)
            if outermost:
                timers.add(STORE_TOTAL, elapsed)

    return timed


def _timed_async(function: Callable[..., Any], name: str, timers: Timers) -> Any:
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await function(*args, **kwargs)
        finally:
            timers.add(name, time.perf_counter() - started)

    return timed


def _timed_sync(function: Callable[..., Any], name: str, timers: Timers) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            timers.add(name, time.perf_counter() - started)

    return timed


@contextmanager
def instrumented(app: FastAPI, timers: Timers, notes: list[str]) -> Iterator[None]:
    """Timers around the store's async methods (instance attributes), the JSON response's
    ``render`` and ``serving.service.recommendations``; each one that is not there is skipped
    with a note. Everything is put back on exit."""
    undo: list[Callable[[], None]] = []
    store = getattr(getattr(app, "state", None), "store", None)
    if store is None:
        notes.append("app.state.store not found: no Redis timing")
    else:
        wrapped = []
        for name in dir(type(store)):
            if name.startswith("__") or name in ("close", "aclose"):
                continue
            method = getattr(store, name, None)
            if method is None or not inspect.iscoroutinefunction(method):
                continue
            setattr(store, name, _timed_store_method(method, f"store.{name}", timers))
            undo.append(lambda name=name: delattr(store, name))  # the class's method again
            wrapped.append(name)
        if "bundle" not in wrapped:
            notes.append(f"{type(store).__name__}.bundle not found (wrapped: "
                         f"{', '.join(wrapped) or 'nothing'})")
    try:
        responses = importlib.import_module("serving.responses")
        response_class = responses.OrjsonResponse
        render = response_class.__dict__["render"]
    except (ImportError, AttributeError, KeyError):
        notes.append("serving.responses.OrjsonResponse.render not found: no JSON timing")
    else:
        response_class.render = _timed_sync(render, "JSON encoding (OrjsonResponse.render)",
                                            timers)
        undo.append(lambda: setattr(response_class, "render", render))
    try:
        service = importlib.import_module("serving.service")
        recommendations = service.recommendations
    except (ImportError, AttributeError):
        notes.append("serving.service.recommendations not found: no handler timing")
    else:
        if inspect.iscoroutinefunction(recommendations):
            service.recommendations = _timed_async(
                recommendations, "service.recommendations (incl. its Redis calls)", timers)
            undo.append(lambda: setattr(service, "recommendations", recommendations))
        else:
            notes.append("serving.service.recommendations is not async: no handler timing")
    try:
        yield
    finally:
        for step in reversed(undo):
            step()


@contextmanager
def gc_pauses() -> Iterator[dict[int, list[float]]]:
    """generation -> [collections, wall seconds, CPU seconds of this thread, objects collected],
    summed by a ``gc.callbacks`` hook. Wall well above CPU means the pauses were stretched by
    the OS (a busy machine), not by the collector's work."""
    stats: dict[int, list[float]] = {0: [0, 0.0, 0.0, 0], 1: [0, 0.0, 0.0, 0],
                                     2: [0, 0.0, 0.0, 0]}
    started = [0.0, 0.0]

    def callback(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0], started[1] = time.perf_counter(), time.thread_time()
        elif phase == "stop":
            entry = stats.setdefault(int(info.get("generation", -1)), [0, 0.0, 0.0, 0])
            entry[0] += 1
            entry[1] += time.perf_counter() - started[0]
            entry[2] += time.thread_time() - started[1]
            entry[3] += int(info.get("collected", 0))

    gc.callbacks.append(callback)
    try:
        yield stats
    finally:
        gc.callbacks.remove(callback)


def _create_app(url: str) -> FastAPI:
    main = importlib.import_module("serving.main")
    try:
        settings_module = importlib.import_module("serving.settings")
        settings = settings_module.load_settings(redis_url=url, prefix=PREFIX,
                                                 api_keys=[API_KEY])
    except (ImportError, AttributeError, TypeError, ValueError) as exc:
        print(f"breakdown: load_settings(...) failed ({exc}); using RECSYS_* variables")
        os.environ.update({"RECSYS_REDIS_URL": url, "RECSYS_PREFIX": PREFIX,
                           "RECSYS_API_KEYS": API_KEY})
        return main.create_app()  # type: ignore[no-any-return]
    return main.create_app(settings)  # type: ignore[no-any-return]


async def _drive(app: FastAPI, ids: list[str], query: str, seconds: float, warmup: float,
                 concurrencies: list[int], notes: list[str]) -> list[dict[str, Any]]:
    """One warm-up, then one timed pass per concurrency; each pass's numbers as a dict."""
    import httpx

    timers = Timers()
    headers = {"X-API-Key": API_KEY}
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def load(client: httpx.AsyncClient, concurrency: int, deadline: float,
                   record: bool) -> None:
        async def worker(first: int) -> None:
            i = first
            while time.perf_counter() < deadline:
                user = ids[i % len(ids)]
                i += concurrency
                started = time.perf_counter()
                response = await client.get(f"/v1/users/{user}/recommendations?{query}",
                                            headers=headers)
                if record:
                    latencies.append(time.perf_counter() - started)
                    statuses[response.status_code] += 1

        await asyncio.gather(*(worker(k) for k in range(concurrency)))

    passes = []
    lifespan = getattr(getattr(app, "router", None), "lifespan_context", None)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        try:
            context = lifespan(app) if lifespan is not None else None
        except Exception as exc:  # a refactored lifespan: run without it
            notes.append(f"lifespan not run ({exc})")
            context = None
        if context is not None:
            await context.__aenter__()
        try:
            with instrumented(app, timers, notes):
                await load(client, max(concurrencies), time.perf_counter() + warmup, False)
                for concurrency in concurrencies:
                    timers.reset()
                    latencies.clear()
                    statuses.clear()
                    gc.collect()
                    with gc_pauses() as pauses:
                        cpu = time.process_time()
                        started = time.perf_counter()
                        await load(client, concurrency, started + seconds, True)
                        elapsed = time.perf_counter() - started
                        cpu = time.process_time() - cpu
                    ordered = sorted(latencies)
                    passes.append({
                        "concurrency": concurrency, "seconds": elapsed,
                        "requests": len(ordered), "cpu_seconds": cpu,
                        "statuses": {str(code): n for code, n in sorted(statuses.items())},
                        "latency_mean": _mean(ordered),
                        "latency_p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
                        if ordered else NAN,
                        "timers": {name: [timers.calls[name], timers.seconds[name]]
                                   for name in timers.calls},
                        "gc": {str(gen): entry for gen, entry in sorted(pauses.items())},
                    })
        finally:
            if context is not None:
                await context.__aexit__(None, None, None)
    return passes


def breakdown_worker(config_path: Path) -> None:
    """The ``--breakdown-worker`` process: a fresh interpreter, like a uvicorn worker, that
    builds the app, drives it and writes its numbers as JSON next to its config."""
    config = json.loads(config_path.read_text(encoding="utf-8"))
    notes: list[str] = []
    app = _create_app(config["url"])
    try:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] | None = uvloop.new_event_loop
    except ImportError:
        factory = None
        notes.append("uvloop not installed: the asyncio loop")
    ids = config_path.with_name(config["ids"]).read_text(encoding="utf-8").split()
    with asyncio.Runner(loop_factory=factory) as runner:
        passes = runner.run(_drive(app, ids, config["query"], config["seconds"],
                                   config["warmup"], config["concurrencies"], notes))
    out = config_path.with_suffix(".out.json")
    out.write_text(json.dumps({"passes": passes, "notes": notes}), encoding="utf-8")


def run_breakdown(url: str, data: DataSet, seconds: float, concurrency: int,
                  directory: Path) -> dict[str, Any] | None:
    """The breakdown in a fresh process (not this one, which holds the data set, the model and
    their heap); ``None``, with the reason printed, when it fails."""
    ids_path = directory / f"{data.name}-users.txt"
    ids_path.write_text("\n".join(data.user_ids) + "\n", encoding="utf-8")
    config_path = directory / f"{data.name}-breakdown.json"
    config_path.write_text(json.dumps({
        "url": url, "ids": ids_path.name, "query": data.query, "seconds": seconds,
        "warmup": min(2.0, max(seconds / 3, 0.5)),
        "concurrencies": sorted({concurrency, 1}, reverse=True),
    }), encoding="utf-8")
    out = config_path.with_suffix(".out.json")
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'benchmarks'}"}
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--breakdown-worker", str(config_path)],
        cwd=ROOT, env=env, timeout=2 * seconds + 120, check=False,
    )
    if done.returncode != 0 or not out.exists():
        print(f"breakdown: the worker failed (exit status {done.returncode}); see above")
        return None
    return json.loads(out.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def render_breakdown(result: dict[str, Any]) -> str:
    passes = result["passes"]
    header = " | ".join(f"{p['concurrency']} concurrent: calls / req | µs / req"
                        if p["concurrency"] > 1 else "1 at a time: calls / req | µs / req"
                        for p in passes)
    rows: list[tuple[str, list[tuple[str, str]]]] = []

    def row(what: str, cell: Callable[[dict[str, Any], int], tuple[str, str]]) -> None:
        rows.append((what, [cell(p, max(p["requests"], 1)) for p in passes]))

    row("requests (HTTP status: count)", lambda p, n: (
        f"{p['requests']:,}", ", ".join(f"{c}: {k:,}" for c, k in p["statuses"].items())))
    row("throughput in-process, req/s", lambda p, n: (
        "", _num(p["requests"] / p["seconds"], ",.0f")))
    row("**total**: wall time / requests (the loop's cost per request, httpx client included)",
        lambda p, n: ("1", _num(p["seconds"] / n * 1e6, ",.0f")))
    row("CPU time / requests (whole process)", lambda p, n: (
        "1", _num(p["cpu_seconds"] / n * 1e6, ",.0f")))
    row("latency per request, mean (awaited)", lambda p, n: (
        "1", _num(p["latency_mean"] * 1e6, ",.0f")))
    row("latency per request, p99 (awaited)", lambda p, n: (
        "1", _num(p["latency_p99"] * 1e6, ",.0f")))
    names = sorted({name for p in passes for name in p["timers"]},
                   key=lambda name: (name != STORE_TOTAL, not name.startswith("store"), name))
    for name in names:
        kind = "sync" if name.startswith("JSON") else "awaited"

        def timer(p: dict[str, Any], n: int, name: str = name) -> tuple[str, str]:
            calls, seconds = p["timers"].get(name, [0, 0.0])
            return f"{calls / n:.2f}", f"{seconds / n * 1e6:,.1f}"

        row(f"{name} ({kind})", timer)
    generations = sorted({gen for p in passes for gen in p["gc"]})
    for gen in generations:

        def pause(p: dict[str, Any], n: int, gen: str = gen) -> tuple[str, str]:
            entry = p["gc"].get(gen, [0, 0.0])
            return f"{entry[0] / n:.4f}", f"{entry[1] / n * 1e6:,.1f}"

        row(f"GC gen {gen} pauses (sync)", pause)
    row("GC pauses, all generations (sync)", lambda p, n: (
        f"{sum(e[0] for e in p['gc'].values()) / n:.4f}",
        f"{sum(e[1] for e in p['gc'].values()) / n * 1e6:,.1f}"))
    table = "\n".join(f"| {what} | " + " | ".join(f"{a} | {b}" for a, b in cells) + " |"
                      for what, cells in rows)
    align = "|---|" + "---:|---:|" * len(passes)
    gc_lines = "\n".join(
        f"- {'1 at a time' if p['concurrency'] == 1 else str(p['concurrency']) + ' concurrent'}: "
        + "; ".join(
            f"gen {gen} {int(e[0]):,} collections, {e[1] * 1e3:,.1f} ms wall "
            f"({_num(e[1] / e[0] * 1e6 if e[0] else NAN, ',.0f')} µs each), "
            f"{e[2] * 1e3:,.1f} ms CPU, {int(e[3]):,} objects freed"
            for gen, e in p["gc"].items())
        for p in passes)
    text = f"""
Breakdown (`--breakdown`): `serving.main.create_app` in a fresh process, driven in-process by \
`httpx.AsyncClient(transport=ASGITransport(app))` on uvloop, the same requests as above, \
{passes[0]['seconds']:.0f} s per pass; the store's async methods (instance attributes), \
`OrjsonResponse.render` and `serving.service.recommendations` wrapped with timers, GC pauses \
from `gc.callbacks`. "awaited" rows are wall time inside an `await`: with many requests in \
flight they include waiting for the event loop behind the other requests, so the \
1-at-a-time pass gives the actual round trip. "sync" rows (JSON encoding, GC) are time the \
loop spent in them.

| per request | {header} |
{align}
{table}

GC pauses (wall well above CPU: the OS stretched them on a busy machine):

{gc_lines}
"""
    if result["notes"]:
        text += "\n" + "\n".join(f"- note: {note}" for note in result["notes"]) + "\n"
    return text



# --------------------------------------------------------------------------- main


FINDINGS = """Where the time and the tail went (measured on 2026-11-29 while fixing them, synth \
data unless said; in-process numbers from `--breakdown`, `gc.callbacks`, cProfile and Redis's \
`INFO commandstats`):

- **The tail was the garbage collector.** A full (generation-2) collection over the ~160,000 \
objects the app keeps for its whole life paused the event loop for 177 ms (one in 6,000 \
requests at 32 in flight), so every request in flight waited for it. Serving now moves the app \
and each loaded version out of the collector's sight (`gc.freeze()` at startup and after a \
version loads; `serving/live.py`): 0 full collections in the same run, 1,968 tracked objects \
left. The reference's p99 (about 90 ms) is its own full collections.
- **Per-request decoding**: the new-item filter ran `np.isin` on tiny arrays (436 µs a request \
under the profiler); it is now set lookups, and the slot merge walks the lists without \
generators: `ranking.personalized` 190 -> 60 µs a call on the same inputs, identical output.
- **Redis**: the per-request Lua script that framed the five reads in one string cost Redis \
39 µs of CPU a request; the same reads as pipelined `HGET`/`SMEMBERS` cost 9 µs, and with \
hiredis parsing them costs the client no more. On a 2-core machine Redis's CPU is the app's.
- **Client overhead**: redis-py's pool (an `asyncio.Lock` and observability hooks) and its \
per-command `asyncio.wait_for` (a task a command, because of `socket_timeout`) cost about \
150 µs of a ~600 µs request; the one read of every request now goes through a small lane of \
its own connections under one `asyncio.timeout` (`storage/reader.py`, `_Lane`).
- **`serving/lean.py` is kept**: with FastAPI's own dependency solving on the recommendations \
route ours measured 0.57x (shop) and 0.54x (synth) of the reference's throughput, against 0.91x \
and 0.92x with the lean route, same run conditions (10 s x 2 rounds each).
- **2026-11-30, past Starlette's stack** (in-process, the service stubbed to return a fixed body, \
CPU per request, 5 alternating passes of 4,000 requests): the lean routes answered before \
Starlette's error, exception and exit-stack middleware, FastAPI's telemetry and body-limit \
middleware and the router's walk (`serving.lean.LeanDispatch`): 41 µs median against 72 µs.
- **2026-11-30, the request lane's own protocol** (`storage/reader.py`): one `asyncio.Protocol` \
per connection feeding a hiredis reader instead of redis-py's connection and per-reply \
`read_response`: 10-13 µs of CPU for a request's six replies against 27-30 µs (3 alternating \
passes of 5,000 calls).
- **2026-11-30, one write per response** (`serving.limits._HeadWithBody`): uvicorn writes a \
response's head and body in two system calls; ours joins them. Under wrk, `py-spy` put about a \
third of the server's samples inside `write` (the loopback delivery and the wake-up of wrk or \
Redis on the same 2 cores), which is why a request costs more here than its Python.
- **2026-11-30, real time's part**: the session's similar-item lists decoded once per version \
(a bounded cache, `VersionView.neighbours`), `with_session` on indices, `Fused` a named tuple. \
What is left of real time is the session ranking itself (about 10% of the server's samples \
under wrk with 5 live items a user: 150 dictionary updates a request in Python; a numpy \
version measured 3x slower at this size).
- **2026-11-30 (third session), where real time's cost is** (in-process, the whole ASGI app \
called directly on the shop data, CPU per request, 3 alternating passes of 3,000 requests): \
about 225 µs without live items, 360 µs with 5. Of the difference, `with_session` took 60-120 \
µs (the session ranking 35-70 µs, `fuse` 8-17 µs), the rest is the longer personalized merge \
(n + 5 items) and response. The session ranking now adds the newest item's list in C and \
caches each age's rank values (27 µs against 30 µs a call, the same output on 20,000 fuzzed \
sessions; `bench_realtime`'s added cost 68 -> 52 µs). Compiling `recommender/realtime.py` and \
`serving/ranking.py` with mypyc gained nothing (`bench_realtime` at 5,000 items: 69 µs \
compiled against 66 µs interpreted; the code is dictionary and float work on Python objects). \
No lever measured here closes the 1.0x gap with live state in Python.
- **2026-11-30 (fourth session), the ranking's loops in C.** On this day's (slower) machine a \
synth request with 5 live items cost about 600-700 µs of CPU in-process (the whole ASGI app \
called directly, 32 in flight), the reference's about 400; with the ranking stubbed out ours \
cost about 370. The ranking was nearly half of it: `personalized` 75-100 µs (the slot merge of \
three runs, a Python call per head), `with_session` 120-170 µs (the session ranking 50-60 µs, \
`fuse` about 20 µs). The walk over a response's encoded lists (merge, filters, the response \
items) and the session's filter are now `serving/_walk.c`; the session ranking (the neighbour \
lists gathered, trimmed, weighed, summed, sorted and explained) and rank fusion are \
`recommender/_realtime.c` (the replay runs the same C). On the same 3,000 captured synth \
requests (the best of 15 alternating passes): `personalized` 69 -> 30 µs, the session ranking \
58 -> 27 µs, `with_session` about 120 -> 70 µs, the same output; the tests compare the C with \
the Python it replaced on thousands of random lists, ties and filters included. In-process, \
alternating the tree before and after the first step (2-3 passes of 4,000 requests each): synth \
with live items about 715 -> 560 µs a request, synth without 470 -> 390, shop with live items \
610 -> 520. Under wrk the same day: without live items shop 1.31x and 1.27x, synth 1.18x and \
1.11x (0.96x before); with live items 0.90x-0.91x and 0.83x-0.90x (0.61x-0.68x before). What is \
left with live items is Python glue around the C (the list built n + 5 long, then fused and \
rebuilt), the request's Redis round trip and the framework, about 80% of the reference's cost \
without ranking at all.
- **2026-11-30 (fifth session), the glue.** In-process (the whole ASGI app called directly, 32 \
in flight, CPU per request, the tree before and after alternating, 3 passes of 15,000 \
requests; the reference's whole request about 210-220 µs on this machine): synth with 5 live \
items 300-318 -> 226-254 µs. What went: a request's real-time step is one C call \
(`serving._walk.with_session`: the session ranking, its filter, the fusion and the response \
items; the session ranking and the fusion compiled from the same source as \
`recommender._realtime`, `recommender/_rank.h`), so only the candidates it looks at become \
Python objects (on the shop, stubbing the whole step out saved 40 µs a request before this \
step, 30 after); the session's similar lists read from compact arrays and sorted inline; \
`round(x, 4)` without printing x where the answer is certain (Python's `round` prints the \
double and reads it back); the lane's timeout a loop timer instead of `asyncio.timeout` (about \
6 µs a call); the bundle's commands one format each (9 -> 2.5 µs); one `Context` per live \
version; a query value validated once (a bounded memo); ASCII percent-decoding without \
urllib's layers; one time-zone conversion for `at`; new items picked by the C filter. Under \
wrk, short runs (3 rounds of 10 s, synth): without live items 1.01x -> 1.19x, with 5 live \
items 0.82x -> 1.09x; the one-call step then took shop with live items from 0.99x to 1.18x (2 \
rounds of 10 s).
- FastAPI's OpenTelemetry hooks looked up the providers on every request (about 15 µs): off \
unless `RECSYS_OTEL=true`.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=[*DATA_SETS, "both"], default="both",
                        help="data set(s) to run, one after the other (default: both)")
    parser.add_argument("--users", type=int, default=10_000, help="shop users")
    parser.add_argument("--items", type=int, default=2_000, help="shop items")
    parser.add_argument("--duration", type=int, default=30, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="seconds of wrk before each")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2,
                        help="reference/ours pairs per data set")
    parser.add_argument("--at", default="", help="shop: ISO instant for `at=` (default: none, "
                        "the server's now)")
    parser.add_argument("--synth-at", default="",
                        help="synth: ISO instant for `at=` (default: 07:30 local time on the "
                        "day of the newest event, the breakfast slot)")
    parser.add_argument("--synth-dir", type=Path, default=None,
                        help="reuse (or write) the `recsys data synth` output here")
    parser.add_argument("--breakdown", action="store_true",
                        help="after the wrk rounds, time the parts of a request in-process")
    parser.add_argument("--breakdown-seconds", type=float, default=5.0)
    parser.add_argument("--breakdown-concurrency", type=int, default=32)
    parser.add_argument("--self-check", action="store_true",
                        help="check the wrk output parser and exit")
    parser.add_argument("--breakdown-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--live-items", default="0,5",
                        help="comma-separated: for each, that many live items are written for "
                        "every user and the rounds run again (0: none; 5: every request runs "
                        "the real-time path)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    args = parser.parse_args()
    if args.breakdown_worker:
        breakdown_worker(args.breakdown_worker)
        return
    self_check()
    if args.self_check:
        print("wrk output parser: ok")
        return
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install -y wrk")
    selected = DATA_SETS if args.data == "both" else (args.data,)

    sections = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in selected:
            if name == "shop":
                data = shop_data(args.users, args.items, args.at or None)
            else:
                directory = args.synth_dir or Path(tmp) / "synth"
                directory.mkdir(parents=True, exist_ok=True)
                data = synth_data(directory, args.synth_at or None)
            with private_redis() as url:
                publish(url, data)
                text = ""
                base = data.description
                for live in sorted(int(value) for value in args.live_items.split(",")):
                    seed_live_state(url, data, live)
                    data.description = base + (
                        f"; {live} live items per user (real time on every request)" if live
                        else "; no live items")
                    results = run_rounds(args, url, data, Path(tmp))
                    summary = summarize(results)
                    print(f"{data.name}, {live} live items: throughput ours/reference per round "
                          f"{', '.join(_num(r, '.2f') for r in summary.throughput)}, mean "
                          f"{_num(summary.mean_throughput, '.2f')}x (target >= "
                          f"{THROUGHPUT_TARGET:.1f}x); p99 ours/reference per round "
                          f"{', '.join(_num(r, '.2f') for r in summary.p99)}, mean "
                          f"{_num(summary.mean_p99, '.2f')}x (target <= {P99_TARGET:.1f}x)")
                    text += ("\n" if text else "") + render_rounds(data, results, summary, live)
                if args.breakdown:
                    breakdown = run_breakdown(url, data, args.breakdown_seconds,
                                              args.breakdown_concurrency, Path(tmp))
                    if breakdown is None:
                        text += "\nBreakdown: the app could not be built (see the log).\n"
                    else:
                        try:
                            text += render_breakdown(breakdown)
                        except (KeyError, TypeError, ValueError, IndexError) as exc:
                            print(f"breakdown: could not render {breakdown!r}: {exc!r}")
                            text += f"\nBreakdown: could not be rendered ({exc!r}).\n"
            print(text)
            sections.append(text)

    joined = "\n".join(sections)
    body = f"""Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, \
{os.cpu_count()} CPUs (shared with other jobs), Python {platform.python_version()}; \
`{" ".join(["benchmarks/bench_serving.py", *sys.argv[1:]])}`.

Per data set: ALS {ALS_PARAMS} published (top-N 100, with the catalog) to a private \
redis-server on the same machine; wrk 1 thread, {args.connections} connections, \
{args.duration} s per measurement after {args.warmup} s of warm-up, a Lua script cycling through \
the data set's user ids; uvicorn with uvloop + httptools, 1 worker, no access log, for both \
apps (ours with `serving.limits`' header-size and slow-client checks and its per-key rate limit \
on, at a rate wrk never reaches). Reference: a minimal FastAPI route doing one Redis GET of \
the user's encoded 100-item product list and returning the bytes. Rounds alternate reference \
and ours; each round's ratios compare its two adjacent runs. Targets: throughput ours / \
reference >= {THROUGHPUT_TARGET:.1f}x, p99 ours / reference <= {P99_TARGET:.1f}x (mean of the \
rounds' ratios).

{joined}
{FINDINGS}"""
    write_section(args.out, SECTION, body)
    print(f"wrote the {SECTION} section of {args.out}")


if __name__ == "__main__":
    main()
