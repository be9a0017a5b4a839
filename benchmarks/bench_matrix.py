"""Benchmark: validated loading + confidence matrix against a bare Arrow/scipy reference.

Generates N synthetic events once (string user ids ~100k users, string item ids ~20k items, the
default event vocabulary, epoch-second int timestamps) into ``benchmarks/.data/`` (git-ignored),
then times, best of 3 in one process, interleaved:

- reference: ``pyarrow.parquet.read_table`` of the four event columns, dictionary-encode the two
  id columns, ``scipy.sparse.coo_matrix((ones, (u, i))).tocsr()``; no validation, no weights.
- ours: ``load_events(path)`` (full validation) + ``build_interactions(frame, DEFAULT_WEIGHTS,
  half_life_days=30)``.

Peak RSS of each is measured in a fresh interpreter running it once. Results go to the
``## bench_matrix`` section of ``benchmarks/RESULTS.md``.

Usage::

    .venv/bin/python benchmarks/bench_matrix.py [--rows 10000000] [--out benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy import sparse

from recommender.config import DEFAULT_WEIGHTS
from recommender.data import load_events
from recommender.matrix import build_interactions

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "benchmarks" / ".data"
SECTION = "## bench_matrix"
N_USERS = 100_000
N_ITEMS = 20_000
EVENT_SHARES = {"view": 0.60, "click": 0.20, "favorite": 0.05, "cart": 0.08, "share": 0.02,
                "purchase": 0.05}
START = 1_760_000_000  # 2025-10-09, epoch seconds
SPAN = 90 * 86_400
REPEATS = 3


def data_path(rows: int) -> Path:
    label = f"{rows // 1_000_000}m" if rows % 1_000_000 == 0 else str(rows)
    return DATA_DIR / f"events-{label}.parquet"


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """Power-law users and items, the default vocabulary, 90 days of epoch-second timestamps."""
    rng = np.random.default_rng(seed)

    def ids(prefix: str, count: int, exponent: float) -> pa.Array:
        codes = (rng.zipf(exponent, rows) - 1) % count
        names = pa.array(np.char.add(prefix, np.arange(count).astype(str)))
        return pa.DictionaryArray.from_arrays(codes.astype(np.int32), names).cast(pa.string())

    events = pa.array(list(EVENT_SHARES))
    picks = rng.choice(len(events), rows, p=list(EVENT_SHARES.values())).astype(np.int32)
    table = pa.table({
        "user_id": ids("u", N_USERS, 1.2),
        "item_id": ids("i", N_ITEMS, 1.3),
        "event": pa.DictionaryArray.from_arrays(picks, events).cast(pa.string()),
        "timestamp": pa.array(START + rng.integers(0, SPAN, rows)),
    })
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path.with_suffix(".tmp"))
    path.with_suffix(".tmp").rename(path)


def reference(path: Path) -> sparse.csr_matrix:
    table = pq.read_table(path, columns=["user_id", "item_id", "event", "timestamp"])
    users = pc.dictionary_encode(table["user_id"].combine_chunks())
    items = pc.dictionary_encode(table["item_id"].combine_chunks())
    rows, cols = users.indices.to_numpy(), items.indices.to_numpy()
    ones = np.ones(len(rows), dtype=np.float32)
    return sparse.coo_matrix((ones, (rows, cols))).tocsr()


def ours(path: Path) -> sparse.csr_matrix:
    frame = load_events(path).frame
    return build_interactions(frame, DEFAULT_WEIGHTS, half_life_days=30).matrix


RUNS: dict[str, Callable[[Path], sparse.csr_matrix]] = {"reference": reference, "ours": ours}


def own_peak_rss_mib() -> float:
    """This process's peak RSS. ``VmHWM`` where there is one: ``ru_maxrss`` survives ``exec``."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mib(name: str, path: Path) -> float:
    """Peak RSS of a fresh interpreter that runs ``name`` once."""
    out = subprocess.run([sys.executable, __file__, "--measure-memory", name, "--data", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return float(json.loads(out.strip().splitlines()[-1])["peak_rss_mib"])


def machine() -> str:
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
                 if line.startswith("model name")]
        model = names[0] if names else model
    return f"{model}, {os.cpu_count()} cores, Python {platform.python_version()}"


def versions() -> str:
    import pandas
    import scipy

    return (f"pyarrow {pa.__version__}, pandas {pandas.__version__}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}")


def write_section(out: Path, body: str) -> None:
    """Replace this benchmark's section of ``out`` (other sections are left alone)."""
    text = out.read_text(encoding="utf-8") if out.exists() else "# Benchmark results\n"
    section = f"{SECTION}\n\n{body.rstrip()}\n"
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(SECTION))
        rest = "" if end < 0 else "\n" + text[end + 1:]
        text = text[:start] + section + rest
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--data", type=Path, help="events Parquet file (default: generated)")
    parser.add_argument("--measure-memory", choices=sorted(RUNS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    path = args.data or data_path(args.rows)
    if args.measure_memory:
        RUNS[args.measure_memory](path)
        print(json.dumps({"peak_rss_mib": own_peak_rss_mib()}))
        return
    if not path.exists():
        print(f"generating {args.rows:,} events into {path} ...", flush=True)
        generate(path, args.rows)
    rows = pq.ParquetFile(path).metadata.num_rows
    peaks = {name: peak_rss_mib(name, path) for name in RUNS}

    best = dict.fromkeys(RUNS, float("inf"))
    cpu = dict.fromkeys(RUNS, float("inf"))
    matrices: dict[str, sparse.csr_matrix] = {}
    for _ in range(REPEATS):
        for name, run in RUNS.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            matrices[name] = run(path)
            best[name] = min(best[name], time.perf_counter() - started)
            cpu[name] = min(cpu[name], time.process_time() - started_cpu)
    same = (matrices["ours"].shape == matrices["reference"].shape
            and matrices["ours"].nnz == matrices["reference"].nnz)

    ratio = best["ours"] / best["reference"]
    lines = [
        f"{rows:,} synthetic events ({N_USERS:,} users, {N_ITEMS:,} items, string ids, int epoch "
        f"timestamps) from `{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`.",
        f"Best of {REPEATS} interleaved runs each in one process (wall and CPU time, the CPU "
        "time counting all threads); peak RSS from a fresh process running each once.",
        "",
        "| run | rows | seconds | ratio | CPU seconds | peak RSS (MiB) |",
        "|---|---:|---:|---:|---:|---:|",
        *(f"| {name} | {rows:,} | {best[name]:.2f} | {best[name] / best['reference']:.2f} | "
          f"{cpu[name]:.2f} | {peaks[name]:,.0f} |" for name in RUNS),
        "",
        "- reference: `pq.read_table` (user_id, item_id, event, timestamp) + dictionary-encode "
        "both id columns + `coo_matrix((ones, (u, i))).tocsr()`, no validation.",
        "- ours: `load_events(path)` (full validation) + `build_interactions(frame, "
        "DEFAULT_WEIGHTS, half_life_days=30)`.",
        f"- same matrix shape and non-zeros: {'yes' if same else 'NO'}; target ours <= 2x "
        f"reference: {'met' if ratio <= 2 else 'NOT met'} ({ratio:.2f}x).",
        f"- machine: {machine()}; {versions()}; date {datetime.now(UTC).date().isoformat()}.",
    ]
    body = "\n".join(lines)
    print(body)
    write_section(args.out, body)
    print(f"\nwrote the {SECTION} section of {args.out}")


if __name__ == "__main__":
    main()
