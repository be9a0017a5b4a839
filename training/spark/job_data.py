"""The train job's data prepared on Spark: the raw events never reach the driver.

``prepare_job_on_spark`` is ``training.job_data.prepare_job`` for ``recsys train --engine spark``.

- **Reading**: one Spark task per event file (a CSV, Parquet or JSON Lines file, or each
  ``*.parquet`` file below a directory, the sink's output included) reads and validates it with
  the one-machine loader, ``load_events``: the same checks, row numbers and ``--skip-invalid``
  counts. An ``event_id`` sent again in a later file is found across files, as one machine does.
- **Numbering**: users and items in order of first appearance (files in path order, then rows).
- **Split**: ``leave-last`` and ``temporal`` as ``recommender.evaluation.splits`` define them,
  the same rows; ``stratified`` takes the same number of train events per user, drawn by a
  seeded hash of each row instead of numpy's generator (other rows than one machine's).
- **Matrices**: weights and time decay per event, summed per (user, item) on Spark, as
  ``recommender.evaluation.prepare`` and ``EncodedEvents.interactions`` do (summed in double
  precision, stored as float32).

The driver receives only what the job keeps: the split's train matrix and test relevance, the
matrix of all events (one entry per user-item pair each), the id maps, and the fingerprint,
whose sorted row hashes are streamed into its digest a partition at a time. Memory on the driver
grows with users, items and pairs, not with events (``docs/scaling.md``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from scipy import sparse

from recommender.data import load_events
from recommender.data.events import DUPLICATE_ID
from recommender.data.formats import part_files
from recommender.data.validation import MAX_LISTED
from recommender.errors import DataError, Problem
from recommender.evaluation.dataset import (
    EvalData,
    eval_data,
    relevance_matrix,
    repeatable_mask,
)
from recommender.evaluation.splits import check_protocol, check_ratio
from recommender.matrix import SECONDS_PER_DAY, EncodedEvents, IdMap, Interactions, epoch_seconds
from recommender.rules import repeatable_items
from training.fingerprint import Fingerprint, row_hashes, time_text, timestamp_nanos
from training.job_data import JobData, Step, no_progress, sample_users
from training.spec import TrainSpec

ORDER = ("file", "position")
"""Where a row came from: the index of its file (in path order) and its position there."""
ROWS = ("file int, position long, user_id string, item_id string, event string, "
        "seconds double, nanos long, event_id string, hash long, meta string")
"""A loaded file's rows; one more row per file carries ``meta`` (what was read, or its error)."""
BATCH_ROWS = 65_536
"""Rows per Arrow batch a file's task hands to Spark."""
_SIGN = -(2**63)
"""Row hashes are unsigned; Spark's longs are signed: xor with this sorts them as unsigned."""


class Kept:
    """The frames a job persisted (each reused by several Spark actions), released at its end."""

    def __init__(self) -> None:
        self.frames: list[DataFrame] = []

    def __call__(self, frame: DataFrame) -> DataFrame:
        kept = frame.persist(StorageLevel.MEMORY_AND_DISK)
        self.frames.append(kept)
        return kept

    def release(self) -> None:
        for frame in self.frames:
            frame.unpersist()
        self.frames.clear()


@dataclass(frozen=True)
class SparkLoad:
    """What reading the events on Spark found (``recsys_cli.progress.Reporter.skipped``)."""

    source: str
    rows_read: int
    skipped: dict[str, int] = field(default_factory=dict)


def prepare_job_on_spark(
    spark: SparkSession, path: str | Path, spec: TrainSpec, catalog: pd.DataFrame | None = None,
    *, skip_invalid: bool = False, step: Step = no_progress,
) -> tuple[JobData, SparkLoad]:
    """``prepare_job`` with the events read, split and summed on ``spark`` (see the module
    doc); also what the reading found.

    Raises
    ------
    DataError
        The first file with bad rows (unless ``skip_invalid``), naming its rows.
    ConfigError
        A bad ratio or a split that leaves no user to evaluate.
    """
    started = time.perf_counter()
    check_protocol(spec.protocol)
    check_ratio(spec.ratio)
    keep = Kept()
    try:
        with step(f"reading {path} on Spark"):
            events, load = read_events(spark, path, frozenset(spec.weights), skip_invalid, keep)
        with step("numbering users and items, fingerprinting"):
            users, all_users = number(events, "user_id", "user", keep)
            items, all_items = number(events, "item_id", "item", keep)
            coded = keep(events.join(users, "user_id").join(items, "item_id"))
            data_fingerprint = spark_fingerprint(coded, len(all_users), len(all_items))
        with step(f"splitting ({spec.split_key}) and building the matrices"):
            parts = keep(split(coded, spec.protocol, spec.ratio, spec.seed))
            split_data = evaluation(parts, spec, catalog, keep)
            everything = weighted(coded, spec, all_users, all_items)
    finally:
        keep.release()
    split_data = sample_users(split_data, spec.eval_users, spec.seed)
    job = JobData(None, spec, data_fingerprint, split_data, everything,
                  time.perf_counter() - started)
    return job, load


# ------------------------------------------------------------------------------------- reading


def read_events(spark: SparkSession, path: str | Path, event_types: frozenset[str],
                skip_invalid: bool, keep: Kept) -> tuple[DataFrame, SparkLoad]:
    """The events of every file of ``path``, one Spark task a file, as rows of ``ROWS`` (without
    ``meta``), kept; ``DataError`` as ``load_events`` raises it."""
    files = [str(file) for file in part_files(path)]
    listing = spark.createDataFrame(
        spark.sparkContext.parallelize(list(enumerate(files)), len(files)), "file int, path string")
    loaded = keep(listing.mapInArrow(_loader(event_types, skip_invalid), ROWS))
    found = sorted((row.file, json.loads(row.meta))
                   for row in loaded.where(F.col("meta").isNotNull()).select("file", "meta")
                   .collect())
    errors = [(files[file], meta["error"]) for file, meta in found if "error" in meta]
    skipped: Counter[str] = Counter()
    for _, meta in found:
        skipped.update(meta.get("skipped", {}))
    if errors:
        source, first = errors[0]
        total = sum(error["total"] for _, error in errors)
        raise DataError(source, [Problem(**problem) for problem in first["problems"]], total)
    events = loaded.where(F.col("meta").isNull()).drop("meta")
    events, repeated = _without_repeated_ids(events, files, skip_invalid)
    if repeated:
        skipped[f"event_id: {DUPLICATE_ID}"] += repeated
    rows_read = sum(meta.get("rows_read", 0) for _, meta in found)
    return events, SparkLoad(str(path), rows_read, dict(skipped))


def _loader(event_types: frozenset[str], skip_invalid: bool
            ) -> Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]:
    """The ``mapInArrow`` function: each listed file loaded by ``load_events``."""

    def load(listings: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for listing in listings:
            for file, path in zip(listing["file"].to_pylist(), listing["path"].to_pylist(),
                                  strict=True):
                yield from _load_file(int(file), path, event_types, skip_invalid)

    return load


def _load_file(file: int, path: str, event_types: frozenset[str], skip_invalid: bool
               ) -> Iterator[pa.RecordBatch]:
    """One file's rows (``ROWS``), then its ``meta`` row."""
    try:
        result = load_events(path, event_types=event_types, skip_invalid=skip_invalid)
    except DataError as error:
        meta = {"error": {"problems": [asdict(problem) for problem in error.problems],
                          "total": error.total}}
        yield _meta_row(file, meta)
        return
    frame = result.frame
    nanos = timestamp_nanos(frame)
    n = len(frame)
    ids = frame["event_id"] if "event_id" in frame else pd.Series([None] * n, dtype=object)
    table = pa.table({
        "file": pa.array(np.full(n, file, dtype=np.int32)),
        "position": pa.array(np.arange(n, dtype=np.int64)),
        **{name: pa.array(frame[name], type=pa.string()) for name in ("user_id", "item_id",
                                                                        "event")},
        "seconds": pa.array(epoch_seconds(frame["timestamp"])),
        "nanos": pa.array(nanos),
        "event_id": pa.array(ids, type=pa.string()),
        "hash": pa.array(row_hashes(EncodedEvents.from_frame(frame), nanos).view(np.int64)),
        "meta": pa.nulls(n, pa.string()),
    })
    yield from table.to_batches(max_chunksize=BATCH_ROWS)
    yield _meta_row(file, {"rows_read": result.rows_read, "skipped": result.skipped})


def _meta_row(file: int, meta: dict[str, object]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict({
        "file": pa.array([file], pa.int32()), "position": pa.array([-1], pa.int64()),
        "user_id": pa.nulls(1, pa.string()), "item_id": pa.nulls(1, pa.string()),
        "event": pa.nulls(1, pa.string()), "seconds": pa.nulls(1, pa.float64()),
        "nanos": pa.array([0], pa.int64()), "event_id": pa.nulls(1, pa.string()),
        "hash": pa.array([0], pa.int64()), "meta": pa.array([json.dumps(meta)], pa.string()),
    })


def _without_repeated_ids(events: DataFrame, files: list[str], skip_invalid: bool
                          ) -> tuple[DataFrame, int]:
    """``events`` without the rows whose ``event_id`` an earlier row has (in another file: each
    file's own were found as it was loaded), and how many; ``DataError`` naming them unless
    ``skip_invalid``."""
    first = F.min(F.struct(*ORDER)).over(Window.partitionBy("event_id"))
    marked = (events.where(F.col("event_id").isNotNull())
              .withColumn("_first", first)
              .where(F.struct(*ORDER) != F.col("_first")))
    repeated = marked.count()
    if not repeated:
        return events, 0
    if not skip_invalid:
        shown = marked.orderBy(*ORDER).limit(MAX_LISTED).collect()
        source = files[shown[0].file]
        problems = [Problem(row.position + 1, "event_id", DUPLICATE_ID, row.event_id)
                    for row in shown if row.file == shown[0].file]
        raise DataError(source, problems, repeated)
    return events.join(marked.select(*ORDER), list(ORDER), "left_anti"), repeated


# ----------------------------------------------------------------------------------- numbering


def number(events: DataFrame, column: str, code: str, keep: Kept) -> tuple[DataFrame, IdMap]:
    """Codes ``0..n-1`` of the values of ``column`` in order of first appearance, as a frame
    of (value, ``code``) and as the ``IdMap`` of the values."""
    firsts = events.groupBy(column).agg(F.min(F.struct(*ORDER)).alias("_first"))
    ranked, _ = ranks(firsts, "_first", code, keep)
    codes = keep(ranked.select(column, code))
    ids = codes.orderBy(code).select(column).toPandas()[column].to_numpy(dtype=object)
    return codes, IdMap.from_ids(ids)


def ranks(frame: DataFrame, key: str, rank: str, keep: Kept) -> tuple[DataFrame, int]:
    """``frame`` sorted by ``key`` with each row's place in that order, ``0..n-1``, as ``rank``;
    and ``n``.

    The rows are sorted into range partitions; a row's place is the number of rows in the
    partitions before its own plus its place in it (Spark's ``monotonically_increasing_id``
    holds the partition and that place): no Python on the executors, no single partition
    holding every row.
    """
    placed = keep(frame.orderBy(key).withColumn("_part", F.spark_partition_id())
                  .withColumn("_id", F.monotonically_increasing_id()))
    offsets: dict[int, int] = {}
    total = 0
    for part, size in sorted(placed.groupBy("_part").count().collect()):
        offsets[part] = total
        total += size
    start = F.create_map(*[F.lit(value) for pair in offsets.items() for value in pair]
                         or [F.lit(0), F.lit(0)])
    place = (start[F.col("_part")].cast("long") + F.col("_id")
             - F.shiftleft(F.col("_part").cast("long"), 33))
    return placed.withColumn(rank, place).drop("_part", "_id"), total


def spark_fingerprint(coded: DataFrame, users: int, items: int) -> Fingerprint:
    """``training.fingerprint.fingerprint`` of the events: the row hashes each file's task
    computed, sorted here as unsigned numbers and digested a partition at a time."""
    totals = coded.agg(F.count(F.lit(1)).alias("rows"), F.min("nanos").alias("start"),
                       F.max("nanos").alias("end")).first()
    assert totals is not None
    keys = coded.select((F.col("hash").bitwiseXOR(F.lit(_SIGN))).alias("key")).orderBy("key")
    digest = hashlib.sha256()
    for blob in keys.mapInPandas(_as_bytes, "blob binary").toLocalIterator():
        digest.update(blob.blob)
    empty = totals.rows == 0
    return Fingerprint(
        rows=int(totals.rows), users=users, items=items,
        start="" if empty else time_text(int(totals.start)),
        end="" if empty else time_text(int(totals.end)),
        content_hash=digest.hexdigest(),
    )


def _as_bytes(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Sorted keys back to the row hashes' little-endian bytes, one blob a batch."""
    for batch in batches:
        keys = batch["key"].to_numpy(dtype=np.int64) ^ np.int64(_SIGN)
        yield pd.DataFrame({"blob": [keys.view("<u8").tobytes()]})


# --------------------------------------------------------------------------------------- split


def split(coded: DataFrame, protocol: str, ratio: float, seed: int) -> DataFrame:
    """``coded`` with a ``part`` column: ``train``, ``test`` or null (a temporal split's later
    events of users it has not seen before), per ``recommender.evaluation.splits``."""
    if protocol == "stratified":
        user = Window.partitionBy("user")
        ranked = (coded.withColumn("_n", F.count(F.lit(1)).over(user))
                  .withColumn("_rank", F.row_number().over(user.orderBy(
                      F.xxhash64(F.lit(seed), *ORDER), *ORDER)) - 1))
        train = F.col("_rank") < F.greatest(F.rint(F.col("_n") * ratio), F.lit(1.0))
        return ranked.withColumn("part", F.when(train, "train").otherwise("test")).drop(
            "_n", "_rank")
    if protocol == "leave-last":
        user = Window.partitionBy("user")
        last = user.orderBy(F.desc("seconds"), F.desc("file"), F.desc("position"))
        ranked = (coded.withColumn("_n", F.count(F.lit(1)).over(user))
                  .withColumn("_rank", F.row_number().over(last)))
        test = (F.col("_rank") == 1) & (F.col("_n") > 1)
        return ranked.withColumn("part", F.when(test, "test").otherwise("train")).drop(
            "_n", "_rank")
    if protocol == "temporal":
        cut = quantile(coded, "seconds", ratio)
        before = coded.where(F.col("seconds") < cut).select("user").distinct().withColumn(
            "_seen", F.lit(True))
        marked = coded.join(before, "user", "left")
        part = (F.when(F.col("seconds") < cut, "train")
                .when(F.col("_seen").isNotNull(), "test"))
        return marked.withColumn("part", part).drop("_seen")
    check_protocol(protocol)
    raise AssertionError(protocol)  # pragma: no cover: a protocol added without its split


def quantile(frame: DataFrame, column: str, ratio: float) -> float:
    """``numpy.quantile(values, ratio)`` (linear interpolation) of a column, exactly: its two
    neighbouring order statistics found on Spark, interpolated as numpy does (NaN without
    rows: nothing is before it)."""
    keep = Kept()
    try:
        ordered, n = ranks(frame.select(column), column, "_rank", keep)
        if n == 0:
            return math.nan
        virtual = n * ratio + (1 + ratio * (1 - 1 - 1)) - 1  # numpy's index, alpha = beta = 1
        if virtual >= n - 1:
            lower = upper = n - 1
        elif virtual < 0:
            lower = upper = 0
        else:
            lower = math.floor(virtual)
            upper = lower + 1
        found = dict(ordered.where(F.col("_rank").isin(lower, upper))
                     .select("_rank", column).collect())
    finally:
        keep.release()
    return lerp(found[lower], found[upper], virtual - math.floor(virtual))


def lerp(a: float, b: float, t: float) -> float:
    """numpy's ``_lerp`` of two float64 values (from the nearer end, as numpy computes it)."""
    low, high, weight = np.float64(a), np.float64(b), np.float64(t)
    difference = high - low
    return float(high - difference * (1 - weight) if weight >= 0.5 else low + difference * weight)


# ------------------------------------------------------------------------------------ matrices


def _weight(weights: Mapping[str, float]) -> Column:
    """Each event's weight (the loader kept only the types that have one)."""
    return F.create_map(*[F.lit(part) for pair in weights.items() for part in pair])[
        F.col("event")].cast("double")


def _value(spec: TrainSpec, reference: float | None) -> Column:
    """Each event's confidence before summing: its weight, decayed from ``reference``; as the
    float32 one machine sums."""
    value = _weight(spec.weights)
    if spec.half_life_days > 0 and reference is not None:
        age = F.greatest(F.lit(reference) - F.col("seconds"), F.lit(0.0))
        value = value * F.pow(F.lit(2.0), age * F.lit(-1.0 / (SECONDS_PER_DAY
                                                              * spec.half_life_days)))
    return value.cast("float")


def weighted(rows: DataFrame, spec: TrainSpec, users: IdMap, items: IdMap) -> Interactions:
    """The confidence matrix of ``rows`` (coded ``user``, ``item``), decayed from their newest,
    with the id maps of those codes."""
    reference = rows.agg(F.max("seconds")).first()[0]  # type: ignore[index]
    summed = (rows.withColumn("_value", _value(spec, reference)).where(F.col("_value") > 0)
              .groupBy("user", "item").agg(F.sum("_value").cast("float").alias("value"))
              .select(F.col("user").cast("int"), F.col("item").cast("int"), "value")
              .toPandas())  # 12 bytes a pair on the driver, then the CSR matrix's 8
    matrix = sparse.csr_matrix(
        (summed["value"].to_numpy(dtype=np.float32),
         (summed["user"].to_numpy(), summed["item"].to_numpy())),
        shape=(len(users), len(items)), dtype=np.float32)
    matrix.sort_indices()
    return Interactions(matrix, users, items)


def evaluation(parts: DataFrame, spec: TrainSpec, catalog: pd.DataFrame | None,
               keep: Kept) -> EvalData:
    """The split's ``EvalData``: the train part's matrix (users and items numbered anew, in
    order of first appearance among train rows) and the test part's relevance."""
    train_rows = parts.where(F.col("part") == "train").drop("user", "item")
    users, train_users = number(train_rows, "user_id", "user", keep)
    items, train_items = number(train_rows, "item_id", "item", keep)
    train = weighted(train_rows.join(users, "user_id").join(items, "item_id"), spec,
                     train_users, train_items)
    repeatable = repeatable_mask(train.items,
                                 repeatable_items(catalog, spec.repeatable_categories))
    relevant = (parts.where((F.col("part") == "test") & (_weight(spec.weights) > 0))
                .drop("user", "item")
                .join(users, "user_id")  # users the train part does not know are not evaluated
                .join(items, "item_id", "left"))
    extras = (relevant.where(F.col("item").isNull())
              .groupBy("item_id").agg(F.min(F.struct(*ORDER)).alias("_first")))
    extra_ids = extras.orderBy("_first").select("item_id").toPandas()["item_id"].tolist()
    pairs = relevant.select("user", "item", "item_id").distinct().toPandas()
    extra_code = {item: len(train_items) + i for i, item in enumerate(extra_ids)}
    cols = pairs["item"].to_numpy(dtype=np.float64, copy=True)
    unseen = np.isnan(cols)
    cols[unseen] = pairs["item_id"][unseen].map(extra_code).to_numpy(dtype=np.float64)
    test, dropped = relevance_matrix(pairs["user"].to_numpy(dtype=np.int64),
                                     cols.astype(np.int64), train, len(extra_ids), repeatable)
    counts = dict(parts.groupBy("part").count().collect())
    return eval_data(train, test, repeatable, len(extra_ids), dropped, {
        "protocol": spec.protocol, "ratio": float(spec.ratio), "seed": int(spec.seed),
        "train_rows": int(counts.get("train", 0)), "test_rows": int(counts.get("test", 0)),
    })

