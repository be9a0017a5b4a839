"""A trained model with everything needed to use it, written as plain files (npz, parquet, json).

The files of a bundle, one MLflow artifact each (``ARTIFACTS`` names them):

- ``model.npz``: the fitted recommender (``Recommender.save``)
- ``id_maps.npz``: ``users`` and ``items``, the external ids of the matrix rows and columns
- ``user_items.npz``: the training confidence matrix (``scipy.sparse.save_npz``), for seen items
- ``catalog.parquet``: item kind, category, title, tags, availability, creation time (may be empty)
- ``spec.json``: the ``TrainSpec`` (model, parameters, event weights, half-life, split)
- ``fingerprint.json``: the ``Fingerprint`` of the events the model was fitted on

Nothing is pickled: every array is saved and loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse

from recommender.errors import ModelError
from recommender.matrix import IdMap, Interactions
from recommender.models.base import Recommender
from training.fingerprint import Fingerprint
from training.spec import TrainSpec

ARTIFACTS = {
    "model": "model.npz",
    "id_maps": "id_maps.npz",
    "user_items": "user_items.npz",
    "catalog": "catalog.parquet",
    "spec": "spec.json",
    "fingerprint": "fingerprint.json",
}


@dataclass(frozen=True)
class ModelBundle:
    """A fitted model, its training interactions and catalog, how it was trained and on what."""

    model: Recommender
    interactions: Interactions
    catalog: pd.DataFrame
    spec: TrainSpec
    fingerprint: Fingerprint

    def candidates(self, kind: str | None = None) -> np.ndarray | None:
        """Item indices a recommendation may return: available ones, of ``kind`` if given.

        Items missing from the catalog count as available and of no kind. ``None`` means every
        item (no catalog and no ``kind``).
        """
        if kind is None and self.catalog.empty:
            return None
        catalog = self.catalog
        known = self.interactions.items.to_index(catalog["item_id"])
        unavailable = known[~catalog["available"].to_numpy(dtype=bool) & (known >= 0)]
        if kind is None:
            return np.setdiff1d(np.arange(len(self.interactions.items)), unavailable)
        wanted = catalog["available"].to_numpy(dtype=bool) & (catalog["kind"] == kind).to_numpy()
        return np.unique(known[wanted & (known >= 0)])


def catalog_subset(catalog: pd.DataFrame | None) -> pd.DataFrame:
    """The catalog columns a bundle keeps, with canonical dtypes; an empty frame for ``None``.

    Optional columns missing from ``catalog`` get their defaults: no title or tags, available,
    unknown creation time.
    """
    if catalog is None:
        catalog = pd.DataFrame({"item_id": [], "kind": [], "category": []})

    def text(name: str) -> pd.Series:
        if name not in catalog:
            return pd.Series("", index=catalog.index, dtype="string")
        return catalog[name].astype("string").fillna("")

    available = (
        catalog["available"].astype("boolean").fillna(True).astype(bool)
        if "available" in catalog
        else pd.Series(True, index=catalog.index, dtype=bool)
    )
    created = (
        pd.to_datetime(catalog["created_at"], utc=True)
        if "created_at" in catalog
        else pd.Series(pd.NaT, index=catalog.index, dtype="datetime64[ns, UTC]")
    )
    out = pd.DataFrame(
        {
            "item_id": catalog["item_id"].astype("string"),
            "kind": catalog["kind"].astype("string"),
            "category": text("category"),
            "title": text("title"),
            "tags": text("tags"),
            "available": available,
            "created_at": created,
        }
    )
    return out.reset_index(drop=True)


def write_bundle(bundle: ModelBundle, folder: str | Path) -> dict[str, str]:
    """Write the bundle's files into ``folder``; returns artifact name -> path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / filename for name, filename in ARTIFACTS.items()}
    bundle.model.save(paths["model"])
    np.savez(
        paths["id_maps"],
        users=bundle.interactions.users.ids.astype(str),
        items=bundle.interactions.items.ids.astype(str),
    )
    sparse.save_npz(paths["user_items"], bundle.interactions.matrix.tocsr(), compressed=False)
    catalog_subset(bundle.catalog).to_parquet(paths["catalog"], index=False)
    paths["spec"].write_text(json.dumps(bundle.spec.to_dict(), indent=2), encoding="utf-8")
    paths["fingerprint"].write_text(
        json.dumps(bundle.fingerprint.to_dict(), indent=2), encoding="utf-8"
    )
    return {name: str(path) for name, path in paths.items()}


def read_bundle(paths: Mapping[str, str | Path]) -> ModelBundle:
    """Read the files written by ``write_bundle`` (artifact name -> local path)."""
    missing = sorted(set(ARTIFACTS) - set(paths))
    if missing:
        raise ModelError(f"model artifacts {missing} are missing; was this model logged by recsys?")
    with np.load(paths["id_maps"], allow_pickle=False) as maps:
        users = IdMap.from_ids(maps["users"])
        items = IdMap.from_ids(maps["items"])
    matrix = sparse.load_npz(paths["user_items"]).tocsr()
    if matrix.shape != (len(users), len(items)):
        raise ModelError(
            f"user_items has shape {matrix.shape} but the id maps have {len(users)} users and "
            f"{len(items)} items; the model artifacts do not belong together"
        )
    return ModelBundle(
        model=Recommender.load(paths["model"]),
        interactions=Interactions(matrix, users, items),
        catalog=pd.read_parquet(paths["catalog"]),
        spec=TrainSpec.from_dict(_read_json(paths["spec"])),
        fingerprint=Fingerprint.from_dict(_read_json(paths["fingerprint"])),
    )


def recommend_frame(
    bundle: ModelBundle, user_ids: pd.Series | np.ndarray, n: int = 10, kind: str | None = None
) -> pd.DataFrame:
    """Top-``n`` unseen, available items per known user: columns user_id, rank, item_id, score.

    Users are taken once each, in order of first appearance; users the model does not know get
    no rows. Rank 1 is the best.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if kind is not None and bundle.catalog.empty:
        raise ModelError("this model version has no catalog, so it cannot filter by kind")
    wanted = pd.unique(pd.Series(user_ids, dtype="string[pyarrow]").dropna())
    rows = bundle.interactions.users.to_index(wanted)
    rows = rows[rows >= 0]
    ids, scores = bundle.model.recommend(
        rows, bundle.interactions.matrix[rows], N=n, items=bundle.candidates(kind)
    )
    keep = ids.ravel() >= 0
    return pd.DataFrame(
        {
            "user_id": np.repeat(bundle.interactions.users.to_ids(rows), n)[keep],
            "rank": np.tile(np.arange(1, n + 1, dtype=np.int64), len(rows))[keep],
            "item_id": bundle.interactions.items.to_ids(ids.ravel()[keep]),
            "score": scores.ravel()[keep].astype(np.float32),
        }
    )


def _read_json(path: str | Path) -> dict[str, object]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ModelError(f"{path}: expected a JSON object")
    return data
