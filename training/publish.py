"""Publish a model version to Redis: precompute everything serving reads, then go live atomically.

``publish_version`` writes, under a namespace of its own (``docs/redis-layout.md``):

- per user and kind, the top-N available items of that kind (``rec``), and per user, kind and push
  slot, the best ``SLOT_LIST_N`` of the slot's items (``slot``);
- per user, the top categories and the items seen in training (``profile``);
- per item, the most similar available items of its kind (``similar``), and, for a model whose
  similar items are not co-occurrence (ALS, BPR, popularity), an item-KNN's (``session``) that
  start the session ranking of real time (``recommender.models.session``);
- per kind and slot (and ``any``), the popular lists; per category, the new items;
- the item table, the user ids and a JSON manifest (``meta``).

Users are walked in batches, in the order of their hash bucket, so that every batch writes whole
runs of a few buckets. Only when all is written does ``make_live`` flip the pointer.
"""

from __future__ import annotations

import math
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
from scipy import sparse

from recommender.config import RecsysConfig
from recommender.data.catalog import KINDS
from recommender.matrix import Interactions
from recommender.models.base import Recommender
from recommender.models.session import session_model
from recommender.precompute import ItemTable, item_table, new_item_lists, popular_lists
from storage.codec import encode_lists
from storage.connect import SyncClient
from storage.keys import (
    Keys,
    VersionKeys,
    bucket_count,
    namespace_id,
    popular_field,
    published_field,
)
from storage.live import read_pointers
from storage.manifest import Manifest
from storage.writer import RETAIN_SECONDS, NamespaceWriter
from storage.writer import make_live as go_live
from training.publish_lists import (
    ItemLists,
    Progress,
    UserLists,
    ranking_threads,
    similar_lists,
    slot_candidates,
    write_items,
    write_users,
)

PENDING_SECONDS = 86_400
BATCH_USERS = 8192


@dataclass(frozen=True)
class PublishStats:
    """What a publish wrote. ``list_bytes``: Redis bytes per user per top-N list (MEMORY USAGE);
    ``default_model``: the model serving uses when none is configured, after the publish."""

    name: str
    version: str
    namespace: str
    previous: str | None
    users: int
    items: int
    keys: int
    bytes: int
    list_bytes: float
    seconds: float
    default_model: str | None = None


def _quiet(stage: str, done: int, total: int) -> None:
    """The default progress callback: says nothing."""


def publish_version(
    redis_client: SyncClient,
    name: str,
    version: str,
    model: Recommender,
    train: Interactions,
    catalog: pd.DataFrame,
    config: RecsysConfig,
    top_n: int = 100,
    progress: Progress | None = None,
    *,
    purchases: sparse.csr_matrix | None = None,
    retain_seconds: int = RETAIN_SECONDS,
    pending_seconds: int = PENDING_SECONDS,
    batch_users: int = BATCH_USERS,
    now: datetime | None = None,
    make_live: bool = True,
    keys: Keys | None = None,
    user_lists: UserLists | None = None,
    metrics: dict[str, float] | None = None,
) -> PublishStats:
    """Write one model version into its own namespace, then make it the live version of ``name``
    (and the default model when there is none: ``storage.writer.make_live``).

    Every complete publish is recorded in ``{prefix}published`` (``name:version`` -> namespace),
    so an A/B experiment can serve a version that is not live (``make_live=False``).

    Parameters
    ----------
    redis_client : redis.Redis or RedisCluster
        A synchronous client (bytes responses), ``storage.connect``.
    name, version : str
        The registered model name and version; ``name`` is what serving selects.
    model, train : Recommender, Interactions
        The fitted model and the interactions it was trained on (matrix and id maps).
    catalog : DataFrame
        Item kind, category, title, tags, availability, creation time (may be empty).
    config : RecsysConfig
        Slots, time zone, repeatable categories, new-item rules and the key prefix.
    top_n : int
        Length of every per-user, per-item and popular list.
    progress : callable, optional
        Called as ``progress(stage, done, total)``.
    purchases : CSR matrix, optional
        Users x items of ``train``, non-zero where the user bought the item; stored as the items
        the user must not be offered again. Defaults to every item in the user's training row.
    retain_seconds : int
        Expiry set on the version this one replaces.
    pending_seconds : int
        Expiry of this version's keys until it goes live (what an interrupted publish leaves).
    now : datetime, optional
        The publish time (for new items); defaults to the current time.
    make_live : bool
        Point ``{prefix}live`` at the new version. With ``False`` the live version is untouched
        and the new keys keep their ``pending_seconds`` expiry until an experiment pins them
        (``training.experiments``) or a later ``make_live`` takes them live.
    keys : Keys, optional
        The key names (the resolved prefix, ``storage.settings``); default
        ``Keys(config.serving.prefix)``.
    user_lists : callable, optional
        What writes the per-user lists and profiles: ``write_users`` (default, in this process)
        or ``training.spark.publish.SparkUserLists`` (from Spark partitions, the same bytes).
    metrics : dict, optional
        The version's offline test metrics (``{"ndcg@10": ...}``), kept in its manifest for the
        operator console.
    """
    started = time.perf_counter()
    report = progress or _quiet
    now = now or datetime.now(UTC)
    keys = keys or Keys(config.serving.prefix)
    namespace = namespace_id(name, str(version), secrets.token_hex(4))
    vkeys = keys.version(namespace)
    slots = config.rules.slots
    table = item_table(catalog, train, slots)
    seen = sparse.csr_matrix(train.matrix if purchases is None else purchases)
    with (NamespaceWriter(redis_client, vkeys, pending_seconds) as writer,
          ThreadPoolExecutor(1, thread_name_prefix="publish-items") as aside):
        with ranking_threads(model):
            items = aside.submit(_item_lists, model, train.matrix, table, config, top_n,
                                 batch_users)
            user_buckets = (user_lists or write_users)(writer, vkeys, model, train, table, seen,
                                                       config, top_n, report, batch_users)
            similar, session = items.result()
        write_items(writer, vkeys.similar, similar, report, table.n_model)
        if session is not None:
            write_items(writer, vkeys.session, session, report, table.n_model)
        report("tables", 0, 1)
        _write_tables(writer, vkeys, train, table, config, top_n, now)
        meta = _manifest(name, str(version), namespace, model, train, table, config, top_n,
                         now, user_buckets, bucket_count(table.n_model), metrics or {},
                         session is not None)
        writer.set(vkeys.meta(), meta.to_bytes())
    report("tables", 1, 1)
    previous = None
    if make_live:
        report("live", 0, 1)
        previous = go_live(redis_client, keys, name, namespace, retain_seconds)
        report("live", 1, 1)
    redis_client.hset(keys.published(), published_field(name, str(version)), namespace)
    total, list_bytes = _memory(redis_client, writer.keys, vkeys)
    default = read_pointers(redis_client, keys).default
    return PublishStats(
        name=name, version=str(version), namespace=namespace, previous=previous,
        users=len(train.users), items=len(table), keys=len(writer.keys), bytes=total,
        list_bytes=list_bytes, seconds=time.perf_counter() - started, default_model=default,
    )


def _item_lists(
    model: Recommender,
    matrix: sparse.csr_matrix,
    table: ItemTable,
    config: RecsysConfig,
    top_n: int,
    batch_items: int,
) -> tuple[ItemLists, ItemLists | None]:
    """The similar lists and, for a model whose similar items do not start sessions, the session
    lists (``recommender.models.session``), as deep as sessions read them.

    They share nothing with the users' lists, so ``publish_version`` computes them on a thread
    of their own while the users are ranked and writes them after: the item-KNN fit and the
    ranking of the items' lists (about 0.8 CPU seconds on ``bench_publish``'s shop) fill the
    cores' idle moments instead of running alone after the users.
    """
    similar = similar_lists(model, table, top_n, batch_items)
    neighbours = session_model(model, matrix) if config.realtime.enabled else None
    if neighbours is None:
        return similar, None
    depth = min(top_n, config.realtime.session_depth)
    return similar, similar_lists(neighbours, table, depth, batch_items)


def _write_tables(
    writer: NamespaceWriter,
    vkeys: VersionKeys,
    train: Interactions,
    table: ItemTable,
    config: RecsysConfig,
    top_n: int,
    now: datetime,
) -> None:
    """The popular and new-item lists, the item table and the user ids."""
    n_items = len(table)
    popular = popular_lists(table, train, config.rules.slots, top_n)
    writer.hset(vkeys.popular(), [popular_field(kind, slot).encode() for kind, slot in popular],
                [encode_lists(ids, scores, n_items)[0] for ids, scores in popular.values()])
    new = new_item_lists(table, config, now, top_n)
    writer.hset(vkeys.new_items(), [category.encode() for category in new],
                [encode_lists(ids, scores, n_items)[0] for ids, scores in new.values()])
    writer.set(vkeys.items(), table.to_arrow())
    users = pa.table({"user_id": pa.array(train.users.index.array, type=pa.string())})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, users.schema) as stream:
        stream.write_table(users)
    writer.set(vkeys.users(), bytes(sink.getvalue()))


def _manifest(
    name: str,
    version: str,
    namespace: str,
    model: Recommender,
    train: Interactions,
    table: ItemTable,
    config: RecsysConfig,
    top_n: int,
    now: datetime,
    user_buckets: int,
    item_buckets: int,
    metrics: dict[str, float],
    session_lists: bool,
) -> Manifest:
    kinds = [kind for kind in KINDS if len(table.candidates(kind))]
    with_lists = slot_candidates(table, config)
    slot_lists = {kind: [slot for k, slot in with_lists if k == kind] for kind in kinds}
    return Manifest(
        name=name, version=version, namespace=namespace,
        published_at=now.astimezone(UTC), algorithm=model.name, params=model.params,
        metrics={key: float(value) for key, value in metrics.items() if math.isfinite(value)},
        top_n=top_n, users=len(train.users), items=len(table), model_items=table.n_model,
        user_buckets=user_buckets, item_buckets=item_buckets, kinds=kinds,
        slot_lists=slot_lists, categories=table.categories, rules=config.rules,
        push=config.push, events=config.events, serving=config.serving,
        realtime=config.realtime, session_lists=session_lists,
    )


def _memory(client: SyncClient, written: set[str], vkeys: VersionKeys) -> tuple[int, float]:
    """Total ``MEMORY USAGE`` of the namespace, and per user list of the ``rec`` buckets."""
    names = sorted(written)
    pipe = client.pipeline(transaction=False)
    for key in names:
        pipe.memory_usage(key, samples=0)
    sizes = dict(zip(names, pipe.execute(), strict=True))
    recs = [key for key in names if "}:rec:" in key]
    for key in recs:
        pipe.hlen(key)
    lists = sum(pipe.execute())
    rec_bytes = sum(sizes[key] or 0 for key in recs)
    return sum(size or 0 for size in sizes.values()), (rec_bytes / lists if lists else 0.0)
