"""What ``publish`` computes besides the model's lists: the item table, candidates, popularity,
new items and category affinity. No Redis here.

The published item table has the model's items first, in the order of the training matrix (so a
model's item index is a row of the table), then the catalog items the model has never seen (new
items without history yet). Items missing from the catalog are published as available products
without category.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy import sparse

from recommender.config import RecsysConfig, SlotConfig
from recommender.data.catalog import KINDS
from recommender.errors import DataError, Problem
from recommender.matrix import Interactions
from recommender.models.base import top_n
from recommender.rules import ANY_SLOT, boost_scores, slot_item_mask

AFFINITY_CATEGORIES = 3
_MAX_CATEGORIES = 0xFFFF


@dataclass(frozen=True)
class ItemTable:
    """The published items: row ``i`` is item index ``i``; the first ``n_model`` are the model's."""

    frame: pd.DataFrame
    n_model: int
    categories: list[str]
    category_codes: np.ndarray
    slot_masks: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.frame)

    def candidates(self, kind: str, mask: np.ndarray | None = None) -> np.ndarray:
        """Indices of the model's available items of ``kind`` (and in ``mask`` if given)."""
        keep = (self.frame["kind"] == kind).to_numpy() & self.frame["available"].to_numpy(bool)
        if mask is not None:
            keep &= mask
        return np.flatnonzero(keep[: self.n_model])

    def to_arrow(self) -> bytes:
        """The table as an Arrow IPC stream, with one boolean ``slot:<name>`` column per slot."""
        frame = self.frame
        columns = {name: pa.array(frame[name].to_numpy(dtype=object), type=pa.string())
                   for name in ("item_id", "kind", "category", "title", "tags")}
        created = frame["created_at"].dt.tz_convert(None).to_numpy()
        columns["created_at"] = pa.array(created, type=pa.timestamp("ns", tz="UTC"),
                                         from_pandas=True)
        columns["available"] = pa.array(frame["available"].to_numpy(bool))
        columns["events"] = pa.array(frame["events"].to_numpy(np.int64))
        for name, mask in self.slot_masks.items():
            columns[f"slot:{name}"] = pa.array(mask)
        table = pa.table(columns)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return bytes(sink.getvalue())


def _normalized(catalog: pd.DataFrame) -> pd.DataFrame:
    """The catalog columns publish keeps, with defaults for the optional ones; last row per id."""
    n = len(catalog)

    def optional(name: str, default: object, dtype: str) -> pd.Series:
        if name not in catalog:
            return pd.Series([default] * n, index=catalog.index, dtype=dtype)
        return catalog[name].astype(dtype).fillna(default)

    frame = pd.DataFrame(
        {
            "item_id": catalog["item_id"].astype("string") if n else pd.Series([], dtype="string"),
            "kind": optional("kind", "product", "string"),
            "category": optional("category", "", "string"),
            "title": optional("title", "", "string"),
            "tags": optional("tags", "", "string"),
            "available": optional("available", True, "boolean").astype(bool),
            "created_at": pd.to_datetime(catalog["created_at"], utc=True)
            if "created_at" in catalog
            else pd.Series(pd.NaT, index=catalog.index, dtype="datetime64[ns, UTC]"),
        }
    )
    return frame.drop_duplicates("item_id", keep="last").reset_index(drop=True)


def _check_ids(ids: pd.Series, source: str) -> None:
    bad = (ids.isna() | (ids == "") | ids.str.contains("\x00", regex=False)).fillna(True)
    if bad.any():
        rows = np.flatnonzero(bad.to_numpy(bool))[:10]
        problems = [Problem(int(r), "item_id", "must be non-empty and contain no NUL byte")
                    for r in rows]
        raise DataError(source, problems, int(bad.sum()))


def item_table(catalog: pd.DataFrame, train: Interactions, slots: list[SlotConfig]) -> ItemTable:
    """Align ``catalog`` to the model's items and append the catalog items it has not seen."""
    catalog = _normalized(catalog)
    model_ids = pd.Series(train.items.ids, dtype="string")
    _check_ids(model_ids, "training items")
    _check_ids(catalog["item_id"], "catalog")
    extra = catalog["item_id"][~catalog["item_id"].isin(model_ids)]
    ids = pd.concat([model_ids, extra], ignore_index=True)
    info = catalog.set_index("item_id").reindex(ids.to_numpy())
    events = np.zeros(len(ids), dtype=np.int64)
    events[: len(model_ids)] = np.diff(train.matrix.tocsc().indptr)
    frame = pd.DataFrame(
        {
            "item_id": ids,
            "kind": info["kind"].fillna("product").to_numpy(),
            "category": info["category"].fillna("").to_numpy(),
            "title": info["title"].fillna("").to_numpy(),
            "tags": info["tags"].fillna("").to_numpy(),
            "available": info["available"].astype("boolean").fillna(True).to_numpy(bool),
            "created_at": info["created_at"].array,
            "events": events,
        }
    ).astype({"kind": "string", "category": "string", "title": "string", "tags": "string"})
    categories = sorted(set(frame["category"].tolist()) - {""})
    if len(categories) >= _MAX_CATEGORIES:
        problem = Problem(0, "category", f"at most {_MAX_CATEGORIES - 1} distinct categories "
                                         f"can be published, got {len(categories)}")
        raise DataError("catalog", [problem])
    codes = pd.Index(categories, dtype="string").get_indexer(frame["category"]).astype(np.int64)
    masks = {slot.name: slot_item_mask(frame, slot) for slot in slots}
    return ItemTable(frame, len(model_ids), categories, codes, masks)


def popular_lists(
    table: ItemTable, train: Interactions, slots: list[SlotConfig], n: int
) -> dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]:
    """(kind, slot) -> (ids, scores): items by total confidence (1.0 = the most popular),
    per kind, plain (``any``) and with each slot's items boosted."""
    weight = np.asarray(train.matrix.sum(axis=0)).ravel().astype(np.float64)
    score = weight / weight.max() if len(weight) and weight.max() > 0 else weight
    lists: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}
    for kind in KINDS:
        cand = table.candidates(kind)
        cand = cand[score[cand] > 0]
        if not len(cand):
            continue
        variants = {ANY_SLOT: score}
        for slot in slots:
            mask = table.slot_masks[slot.name][: table.n_model]
            variants[slot.name] = boost_scores(score, mask, slot.boost)
        for slot_name, values in variants.items():
            row = np.full((1, table.n_model), -np.inf, dtype=np.float32)
            row[0, cand] = values[cand]
            ids, scores = top_n(row, min(n, len(cand)))
            lists[(kind, slot_name)] = (ids, scores)
    return lists


def new_item_lists(
    table: ItemTable, config: RecsysConfig, now: datetime, n: int
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """category -> (ids, scores): available items created within ``new_item_days`` with at most
    ``new_item_max_events`` users, newest first; the score falls from 1 (now) to 0 (the limit)."""
    serving = config.serving
    frame = table.frame
    if serving.new_item_days <= 0:
        return {}
    horizon = pd.Timestamp(now - timedelta(days=serving.new_item_days))
    created = frame["created_at"]
    fresh = (
        created.notna().to_numpy()
        & (created >= horizon).fillna(False).to_numpy(bool)
        & (frame["events"].to_numpy() <= serving.new_item_max_events)
        & frame["available"].to_numpy(bool)
        & frame["kind"].isin(KINDS).to_numpy()
        & (table.category_codes >= 0)
    )
    picked = frame[fresh]
    if picked.empty:
        return {}
    age = (pd.Timestamp(now) - picked["created_at"]).dt.total_seconds().to_numpy()
    days = serving.new_item_days * 86_400.0
    ranked = pd.DataFrame(
        {"index": np.flatnonzero(fresh), "category": picked["category"].to_numpy(),
         "score": np.clip(1 - age / days, 0, 1)}
    ).sort_values(["category", "score"], ascending=[True, False], kind="stable")
    ranked = ranked.groupby("category", sort=False).head(n)
    return {
        str(category): (group["index"].to_numpy()[None, :], group["score"].to_numpy()[None, :])
        for category, group in ranked.groupby("category", sort=False)
    }


def category_onehot(table: ItemTable) -> sparse.csr_matrix:
    """Model items x categories, 1 where the item is in the category."""
    codes = table.category_codes[: table.n_model]
    rows = np.flatnonzero(codes >= 0)
    data = np.ones(len(rows), dtype=np.float32)
    shape = (table.n_model, max(len(table.categories), 1))
    return sparse.csr_matrix((data, (rows, codes[rows])), shape=shape)


def affinity(
    user_items: sparse.csr_matrix, onehot: sparse.csr_matrix, k: int = AFFINITY_CATEGORIES
) -> tuple[np.ndarray, np.ndarray]:
    """Each user's top ``k`` categories by weight, with their share of the user's total weight.

    Returns ``(codes, shares)``, both ``(n_users, k)``; code ``-1`` where a user has fewer.
    """
    per_category = np.asarray((user_items @ onehot).todense())
    total = np.asarray(user_items.sum(axis=1)).ravel()
    k = min(k, per_category.shape[1])
    if k < per_category.shape[1]:
        top = np.argpartition(-per_category, k - 1, axis=1)[:, :k]
    else:
        top = np.broadcast_to(np.arange(k), per_category.shape).copy()
    weight = np.take_along_axis(per_category, top, axis=1)
    order = np.argsort(-weight, axis=1, kind="stable")
    top, weight = np.take_along_axis(top, order, axis=1), np.take_along_axis(weight, order, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(total[:, None] > 0, weight / total[:, None], 0.0)
    return np.where(weight > 0, top, -1), shares
