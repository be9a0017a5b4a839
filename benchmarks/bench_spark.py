"""Benchmark: ALS training and publish on Spark (local mode) against the one-machine path.

Three measurements, each in the same run on the same data (this machine's cores):

1. quality: ml-100k, stratified 0.75, seed 42, equal weights (``view=1,purchase=1``), the
   half-life of ``recsys.toml``'s default (30 days; ``--half-life-days``) and none, ALS defaults
   (``factors`` 64, ``iterations`` 15, ``regularization`` 15, ``alpha`` 2). implicit's fit
   (``ALSRecommender``) against Spark MLlib's (``training.spark.als.SparkALS``, ``regParam``
   from ``reg_param``), both scored by ``recommender.evaluation`` on the same split: fit seconds
   and test nDCG@10 (target: within 0.02, with and without decay). Then the same with
   implicit's ``regularization`` chosen on validation (the split ``recsys tune`` carves from the
   train part, test unseen) and Spark given its mapping of that value.
2. training throughput: ``--rows`` synthetic events (``bench_matrix``'s generator), loaded and
   turned into the confidence matrix (``load_events`` + ``build_interactions``: the driver's part
   of a Spark job too), then one ALS fit of all of them with each engine; and, for information,
   both engines' test nDCG@10 on those skewed (power-law) events' split, where a ``regParam``
   mapping that only ml-100k checked can fail (``training/spark/als.py``).
3. publish throughput: ``shop_synth.synthetic_shop(--users, --items)``, one implicit ALS model,
   published to a private redis-server by ``publish_version`` in this process and with
   ``SparkUserLists`` (Spark local mode, every core); the two namespaces are compared byte for
   byte (every per-user hash), and Redis bytes per user are read with ``MEMORY USAGE``.

Results go to the ``## bench_spark`` section of ``benchmarks/RESULTS.md``; ``docs/scaling.md``
derives its sizing from them. ``--only quality`` runs the first part alone and replaces only its
paragraph, table and difference line in the section (the rest stays from the last full run).

Usage::

    .venv/bin/python benchmarks/bench_spark.py [--ml100k ../shared/data/ml-100k/events.csv]
        [--rows 2000000] [--users 100000] [--items 5000] [--only quality]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bench_matrix import data_path, generate  # noqa: E402
from shop_synth import private_redis, synthetic_shop, write_section  # noqa: E402

from recommender.config import DEFAULT_WEIGHTS, RecsysConfig  # noqa: E402
from recommender.data import load_events  # noqa: E402
from recommender.evaluation import evaluate_model  # noqa: E402
from recommender.evaluation.splits import split_events  # noqa: E402
from recommender.matrix import build_interactions  # noqa: E402
from recommender.models import DEFAULT_PARAMS, ALSRecommender  # noqa: E402
from storage.connect import SyncClient, connect  # noqa: E402
from storage.keys import Keys  # noqa: E402
from storage.writer import namespace_keys  # noqa: E402
from training.job_data import prepare_split  # noqa: E402
from training.publish import PublishStats, publish_version  # noqa: E402
from training.spark.als import SparkALS  # noqa: E402
from training.spark.publish import SparkUserLists  # noqa: E402
from training.spark.session import spark_session  # noqa: E402
from training.spec import TrainSpec  # noqa: E402
from training.tune import validation_data  # noqa: E402

SECTION = "## bench_spark"
QUALITY, TRAINING = "**Quality** — ", "**Training throughput** — "
"""The first words of the quality part and of the part after it, in the section."""
PARITY = 0.02
REGULARIZATION_GRID = (8.0, 15.0, 30.0, 60.0)
"""implicit's ``regularization`` values tried on validation for the tuned comparison."""
EQUAL = {"view": 1.0, "purchase": 1.0}
PUBLISH_PARAMS = {"factors": 64, "iterations": 10, "regularization": 0.01, "alpha": 1.0}
"""bench_publish's model, so that the two publish benchmarks compare."""


def timed(job: Any, *args: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = job(*args)
    return result, time.perf_counter() - started


def quality(spark: Any, path: Path, half_life_days: float,
            weights: dict[str, float] = EQUAL, tune: bool = False) -> dict[str, float]:
    """Fit seconds and test nDCG@10 of both engines on the stratified 0.75 split of ``path``'s
    events (ml-100k; the training part's power-law events). With ``tune``, also both engines
    with implicit's ``regularization`` chosen on validation (``tuned_regularization``)."""
    frame = load_events(path, event_types=set(weights)).frame
    spec = TrainSpec(model="als", weights=weights, half_life_days=half_life_days)
    data = prepare_split(frame, spec)
    out: dict[str, float] = {"users": data.train.shape[0], "nnz": data.train.nnz}
    for name, model in (("implicit", ALSRecommender()), ("spark", SparkALS(spark))):
        _, seconds = timed(model.fit, data.train.matrix)
        out[f"{name}_s"] = seconds
        out[f"{name}_ndcg"] = evaluate_model(model, data, fit=False)["ndcg@10"]
        if isinstance(model, SparkALS):
            out["reg_param"] = model.spark_params["regParam"]
    if tune:
        out["tuned"] = regularization = tuned_regularization(frame, spec)
        for name, model in (("implicit", ALSRecommender(regularization=regularization)),
                            ("spark", SparkALS(spark, regularization=regularization))):
            out[f"tuned_{name}_ndcg"] = evaluate_model(model, data, fit=True)["ndcg@10"]
            if isinstance(model, SparkALS):
                out["tuned_reg_param"] = model.spark_params["regParam"]
    return out


def tuned_regularization(frame: Any, spec: TrainSpec) -> float:
    """implicit's ``regularization`` of ``REGULARIZATION_GRID`` with the best nDCG@10 on the
    validation split that ``recsys tune`` carves from the train part (the test part unseen)."""
    split = split_events(frame, spec.protocol, spec.ratio, spec.seed)
    validation = validation_data(split.train, spec)
    scores = {value: evaluate_model(ALSRecommender(regularization=value), validation,
                                    fit=True)["ndcg@10"] for value in REGULARIZATION_GRID}
    print("validation nDCG@10 by regularization", scores, flush=True)
    return max(scores, key=scores.__getitem__)


def training(spark: Any, rows: int) -> dict[str, float]:
    """Seconds to load and build the matrix of ``rows`` events, then to fit it with each engine."""
    path = data_path(rows)
    if not path.exists():
        generate(path, rows)
    started = time.perf_counter()
    frame = load_events(path).frame
    matrix = build_interactions(frame, DEFAULT_WEIGHTS, half_life_days=30).matrix
    out = {"rows": rows, "prepare_s": time.perf_counter() - started, "nnz": matrix.nnz,
           "users": matrix.shape[0], "items": matrix.shape[1]}
    _, out["implicit_s"] = timed(ALSRecommender().fit, matrix)
    _, out["spark_s"] = timed(SparkALS(spark).fit, matrix)
    return out


def digest(client: SyncClient, prefix: str, namespace: str) -> dict[str, str]:
    """A hash of every per-user hash of a namespace, by key name without the namespace."""
    out = {}
    for key in namespace_keys(client, Keys(prefix), namespace):
        if ":u" not in key.split("}")[0] or client.type(key) != b"hash":
            continue
        fields = sorted(client.hgetall(key).items())
        out[key.replace(namespace, "NS")] = hashlib.blake2b(repr(fields).encode()).hexdigest()
    return out


def publishing(spark: Any, users: int, items: int) -> dict[str, Any]:
    """Seconds of a one-process and a Spark publish of the same model, and whether they match."""
    train, catalog = synthetic_shop(users, items, seed=1)
    model = ALSRecommender(**PUBLISH_PARAMS).fit(train.matrix)
    out: dict[str, Any] = {"users": users, "items": items, "nnz": train.nnz}
    with private_redis() as url:
        client = connect(url)
        prefix = "bench:"
        config = RecsysConfig.model_validate({"serving": {"prefix": prefix}})
        stats: dict[str, PublishStats] = {}
        for name, lists in (("local", None), ("spark", SparkUserLists(spark, url))):
            stats[name] = publish_version(client, "bench", name, model, train, catalog, config,
                                          keys=Keys(prefix), user_lists=lists)
            out[f"{name}_s"] = stats[name].seconds
        same = (digest(client, prefix, stats["local"].namespace)
                == digest(client, prefix, stats["spark"].namespace))
    out.update(identical=same, bytes=stats["local"].bytes, list_bytes=stats["local"].list_bytes,
               keys=stats["local"].keys)
    return out


def quality_text(path: Path, half_life_days: float, q: dict[str, float], q0: dict[str, float],
                 when: str = "") -> str:
    """The quality part of the section: its paragraph, table and difference line."""
    diffs = {f"{half_life_days:g} days": q["spark_ndcg"] - q["implicit_ndcg"],
             "without decay": q0["spark_ndcg"] - q0["implicit_ndcg"]}
    return f"""{QUALITY}{when}ml-100k ({path.name}), stratified 0.75, seed 42, weights \
`view=1,purchase=1`, ALS {DEFAULT_PARAMS["als"]}; Spark `regParam` = regularization x users / \
nonzeros (`reg_param`) = {q["reg_param"]:.4f}; the same split and scoring \
(`recommender.evaluation`) for both:

| half-life | engine | fit seconds | test nDCG@10 |
|---|---|---:|---:|
| {half_life_days:g} days | implicit (`ALSRecommender`) | {q["implicit_s"]:.2f} | \
{q["implicit_ndcg"]:.4f} |
| {half_life_days:g} days | Spark MLlib (`SparkALS`) | {q["spark_s"]:.2f} | \
{q["spark_ndcg"]:.4f} |
| none | implicit | {q0["implicit_s"]:.2f} | {q0["implicit_ndcg"]:.4f} |
| none | Spark MLlib | {q0["spark_s"]:.2f} | {q0["spark_ndcg"]:.4f} |

Difference Spark - implicit (target within {PARITY}): {"; ".join(
    f"**{d:+.4f}** {k}, {'met' if abs(d) <= PARITY else 'missed'}" for k, d in diffs.items())}.

With implicit's `regularization` chosen on validation instead (of {", ".join(
    f"{v:g}" for v in REGULARIZATION_GRID)}, best nDCG@10 on the fit/validation split that \
`recsys tune` carves from the train part; the test part unseen) and Spark given its mapping:

| half-life | chosen `regularization` | Spark `regParam` | implicit test nDCG@10 | Spark test \
nDCG@10 | Spark - implicit |
|---|---:|---:|---:|---:|---:|
{tuned_row(f"{half_life_days:g} days", q)}
{tuned_row("none", q0)}
"""


def tuned_row(label: str, q: dict[str, float]) -> str:
    diff = q["tuned_spark_ndcg"] - q["tuned_implicit_ndcg"]
    return (f"| {label} | {q['tuned']:g} | {q['tuned_reg_param']:.4f} | "
            f"{q['tuned_implicit_ndcg']:.4f} | {q['tuned_spark_ndcg']:.4f} | **{diff:+.4f}** "
            f"({'met' if abs(diff) <= PARITY else 'missed'}) |")


def replace_quality(out: Path, text: str) -> None:
    """Replace the quality part of ``out``'s section, from its first words to the next part's."""
    old = out.read_text(encoding="utf-8")
    section = old.index(f"{SECTION}\n")
    start = old.index(QUALITY, section)
    end = old.index(TRAINING, start)
    out.write_text(old[:start] + text + "\n" + old[end:], encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ml100k", type=Path,
                        default=ROOT.parent / "shared" / "data" / "ml-100k" / "events.csv")
    parser.add_argument("--half-life-days", type=float, default=30.0)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=5_000)
    parser.add_argument("--master", default="local[*]")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--only", choices=["quality"],
                        help="run this part alone and replace only its text in the section")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    spark = spark_session(args.master, shuffle_partitions=2 * cores)
    SparkALS(spark, factors=4, iterations=1).fit(_warmup_matrix())  # the JVM's first job

    q = quality(spark, args.ml100k, args.half_life_days, tune=True)
    print("quality", q, flush=True)
    q0 = quality(spark, args.ml100k, 0.0, tune=True)
    print("quality, no decay", q0, flush=True)
    command = " ".join(["benchmarks/bench_spark.py", *sys.argv[1:]])
    if args.only == "quality":
        when = f"run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC alone (`{command}`; the training \
and publish parts below are from the run above), "
        text = quality_text(args.ml100k, args.half_life_days, q, q0, when)
        print(text)
        replace_quality(args.out, text)
        print(f"wrote the quality part of the {SECTION} section of {args.out}")
        spark.stop()
        return
    t = training(spark, args.rows)
    print("training", t, flush=True)
    skewed = quality(spark, data_path(args.rows), args.half_life_days, dict(DEFAULT_WEIGHTS))
    print("quality, power-law events", skewed, flush=True)
    p = publishing(spark, args.users, args.items)
    print("publish", p, flush=True)

    als = DEFAULT_PARAMS["als"]
    body = f"""Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {cores} CPUs \
(shared with other jobs), Python {platform.python_version()}, Spark {spark.version} \
`{args.master}`; `{command}`.

{quality_text(args.ml100k, args.half_life_days, q, q0)}
**Training throughput** — {t["rows"]:,} synthetic events (`bench_matrix` generator) -> \
{t["users"]:,} x {t["items"]:,}, {t["nnz"]:,} non-zeros; ALS {als}:

| step | seconds | per core |
|---|---:|---:|
| load + validate + confidence matrix (`load_events`, `build_interactions`; one process, \
the driver's part of a Spark job too) | {t["prepare_s"]:.2f} | \
{t["rows"] / t["prepare_s"]:,.0f} events/s (one core) |
| ALS fit, implicit, {cores} threads | {t["implicit_s"]:.2f} | \
{t["rows"] / t["implicit_s"] / cores:,.0f} events/s/core |
| ALS fit, Spark `{args.master}` | {t["spark_s"]:.2f} | \
{t["rows"] / t["spark_s"] / cores:,.0f} events/s/core |

The same events' quality, for information (the target is ml-100k's): their stratified 0.75 \
split (seed 42), default weights, {args.half_life_days:g}-day half-life; {skewed["users"]:,} \
users, {skewed["nnz"]:,} train non-zeros, heavy users and items (power law); `regParam` \
{skewed["reg_param"]:.4f}. Test nDCG@10: implicit {skewed["implicit_ndcg"]:.4f}, Spark \
{skewed["spark_ndcg"]:.4f} ({skewed["spark_ndcg"] - skewed["implicit_ndcg"]:+.4f}).

**Publish throughput** — `shop_synth.synthetic_shop({p["users"]:,} users, {p["items"]:,} items)`, \
{p["nnz"]:,} interactions, ALS {PUBLISH_PARAMS} (bench_publish's), default `recsys.toml` \
(2 kinds, no slots), top-N 100, a private redis-server on this machine:

| publish | seconds | users/s/core |
|---|---:|---:|
| `publish_version`, this process | {p["local_s"]:.2f} | {p["users"] / p["local_s"] / cores:,.0f} |
| `publish_version` + `SparkUserLists`, Spark `{args.master}` | {p["spark_s"]:.2f} | \
{p["users"] / p["spark_s"] / cores:,.0f} |

- per-user hashes of the two namespaces byte-identical: **{"yes" if p["identical"] else "NO"}**
- Redis: {p["keys"]:,} keys, {p["bytes"]:,} bytes, {p["bytes"] / p["users"]:,.0f} bytes per \
user (all of the version), {p["list_bytes"]:.0f} bytes per 100-item list (`MEMORY USAGE`).
"""
    print(body)
    write_section(args.out, SECTION, body)
    print(f"wrote the {SECTION} section of {args.out}")
    spark.stop()


def _warmup_matrix() -> Any:
    from scipy import sparse

    return sparse.random(50, 20, density=0.3, format="csr", random_state=0, dtype="float32")


if __name__ == "__main__":
    main()
