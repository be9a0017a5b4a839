"""Shared by ``bench_publish`` and ``bench_serving``: a synthetic shop, a private Redis server and
the writer of a ``RESULTS.md`` section.

The shop: products in breakfast/lunch/dinner/snacks/drinks and content in articles/activities,
item popularity following a power law, each user with a favourite category (70% of their events)
and a view/purchase mix. Built vectorized from a seed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import redis
from scipy import sparse

from recommender.matrix import IdMap, Interactions

CATEGORIES = np.array(["breakfast", "lunch", "dinner", "snacks", "drinks", "articles",
                       "activities"])
KINDS = np.array(["product"] * 5 + ["content"] * 2)
CATEGORY_SHARES = np.array([0.16, 0.2, 0.2, 0.14, 0.1, 0.12, 0.08])


def synthetic_shop(
    n_users: int, n_items: int, per_user: int = 20, seed: int = 0
) -> tuple[Interactions, pd.DataFrame]:
    """A users x items confidence matrix and its catalog."""
    rng = np.random.default_rng(seed)
    item_category = np.sort(rng.choice(len(CATEGORIES), n_items, p=CATEGORY_SHARES))
    weight = 1.0 / (rng.permutation(n_items) + 10.0) ** 0.9
    cumulative = np.cumsum(weight)
    ends = np.searchsorted(item_category, np.arange(len(CATEGORIES)), side="right")
    before = np.r_[0.0, cumulative[ends[:-1] - 1]]
    totals = cumulative[ends - 1] - before
    favourite = rng.choice(len(CATEGORIES), n_users, p=CATEGORY_SHARES)
    draws = n_users * per_user
    users = np.repeat(np.arange(n_users), per_user)
    category = np.where(rng.random(draws) < 0.7, favourite[users],
                        rng.choice(len(CATEGORIES), draws, p=CATEGORY_SHARES))
    target = before[category] + rng.random(draws) * totals[category]
    items = np.minimum(np.searchsorted(cumulative, target), n_items - 1)
    values = np.where(rng.random(draws) < 0.15, 8.0, 1.0).astype(np.float32)
    matrix = sparse.csr_matrix((values, (users, items)), shape=(n_users, n_items))
    matrix.sum_duplicates()
    item_ids = [f"i{j}" for j in range(n_items)]
    train = Interactions(matrix, IdMap.from_ids([f"u{u}" for u in range(n_users)]),
                         IdMap.from_ids(item_ids))
    catalog = pd.DataFrame({
        "item_id": item_ids,
        "kind": KINDS[item_category],
        "category": CATEGORIES[item_category],
        "title": [f"item {j}" for j in range(n_items)],
        "tags": "",
        "available": rng.random(n_items) > 0.02,
        "created_at": pd.Timestamp("2026-01-01", tz="UTC"),
    })
    return train, catalog


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def private_redis() -> Iterator[str]:
    """A throwaway ``redis-server`` (no persistence) on a free port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found (apt-get install redis-server)")
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    redis.Redis.from_url(url).ping()
                    break
                except redis.exceptions.ConnectionError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def write_section(out: Path, section: str, body: str) -> None:
    """Replace the ``section`` (e.g. ``## bench_publish``) of ``out``; other sections stay."""
    text = out.read_text(encoding="utf-8") if out.exists() else "# Benchmark results\n"
    block = f"{section}\n\n{body.rstrip()}\n"
    start = text.find(f"{section}\n")
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + block
    else:
        end = text.find("\n## ", start + len(section))
        text = text[:start] + block + (text[end:] if end >= 0 else "")
    out.write_text(text, encoding="utf-8")
