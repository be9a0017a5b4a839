"""Model bundles: plain files that round-trip, and top-N frames with known answers."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recommender.errors import ModelError
from recommender.matrix import IdMap, Interactions
from recommender.models import make_model
from training.bundle import ARTIFACTS, ModelBundle, read_bundle, recommend_frame, write_bundle
from training.fingerprint import Fingerprint
from training.spec import TrainSpec

# Item popularity (users): i0 4, i1 3, i2 2, i3 1, i4 0.
HISTORY = {"u0": [0, 1, 2, 3], "u1": [0, 1, 2], "u2": [0, 1], "u3": [0]}
ITEMS = ["i0", "i1", "i2", "i3", "i4"]


def _bundle(catalog: pd.DataFrame | None = None) -> ModelBundle:
    rows = np.repeat(np.arange(len(HISTORY)), [len(v) for v in HISTORY.values()])
    cols = np.concatenate(list(HISTORY.values()))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(HISTORY), len(ITEMS))
    )
    interactions = Interactions(matrix, IdMap.from_ids(list(HISTORY)), IdMap.from_ids(ITEMS))
    model = make_model("pop", {}).fit(matrix)
    if catalog is None:
        catalog = pd.DataFrame(columns=["item_id", "kind", "category"])
    return ModelBundle(
        model=model,
        interactions=interactions,
        catalog=catalog,
        spec=TrainSpec(model="pop", params=dict(model.params), weights={"view": 1.0}),
        fingerprint=Fingerprint(10, 4, 5, "2024-01-01T00:00:00+00:00", "2024-01-02T00:00:00+00:00",
                                "ab" * 32),
    )


def _catalog() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": [*ITEMS, "new"],
            "kind": ["product", "product", "product", "content", "content", "product"],
            "category": ["breakfast", "lunch", "lunch", "articles", "articles", "snacks"],
            "title": ["Youtiao", "Noodles", "Rice", "News", "Guide", "Bun"],
            "tags": ["fried;hot", "", None, "", "", ""],
            "available": [True, True, False, True, True, True],
            "created_at": pd.to_datetime(["2024-01-01T00:00:00Z"] * 5 + [None], utc=True),
        }
    )


def _items_by_user(frame: pd.DataFrame) -> dict[str, list[str]]:
    return {user: group["item_id"].tolist() for user, group in frame.groupby("user_id", sort=True)}


def test_top_n_skips_seen_items_and_ranks_by_score() -> None:
    frame = recommend_frame(_bundle(), pd.Series(["u3", "u2"]), n=3)
    assert list(frame.columns) == ["user_id", "rank", "item_id", "score"]
    assert _items_by_user(frame) == {"u2": ["i2", "i3", "i4"], "u3": ["i1", "i2", "i3"]}
    assert frame["rank"].tolist() == [1, 2, 3, 1, 2, 3]
    for _, group in frame.groupby("user_id"):
        assert group["score"].is_monotonic_decreasing


def test_unknown_users_get_no_rows_and_short_lists_are_not_padded() -> None:
    frame = recommend_frame(_bundle(), ["nobody", "u0", "u0"], n=10)
    assert frame["user_id"].tolist() == ["u0"]
    assert frame["item_id"].tolist() == ["i4"]


def test_unavailable_items_are_never_recommended_and_kind_filters() -> None:
    bundle = _bundle(_catalog())
    assert _items_by_user(recommend_frame(bundle, ["u3"], n=3)) == {"u3": ["i1", "i3", "i4"]}
    content = recommend_frame(bundle, ["u3", "u1"], n=3, kind="content")
    assert _items_by_user(content) == {"u1": ["i3", "i4"], "u3": ["i3", "i4"]}


def test_a_kind_filter_needs_a_catalog() -> None:
    with pytest.raises(ModelError, match="no catalog"):
        recommend_frame(_bundle(), ["u0"], kind="product")


def test_n_must_be_positive() -> None:
    with pytest.raises(ValueError, match="n must be >= 1"):
        recommend_frame(_bundle(), ["u0"], n=0)


def test_a_bundle_round_trips_through_plain_files(tmp_path: Path) -> None:
    bundle = _bundle(_catalog())
    paths = write_bundle(bundle, tmp_path)
    assert set(paths) == set(ARTIFACTS)
    for name in ("model", "id_maps", "user_items"):
        with zipfile.ZipFile(paths[name]) as archive, np.load(paths[name]) as arrays:
            assert all(entry.endswith(".npy") for entry in archive.namelist())
            assert all(arrays[key].dtype != object for key in arrays.files)

    back = read_bundle(paths)
    assert back.interactions.users.ids.tolist() == list(HISTORY)
    assert back.interactions.items.ids.tolist() == ITEMS
    assert (back.interactions.matrix != bundle.interactions.matrix).nnz == 0
    assert back.spec == bundle.spec and back.fingerprint == bundle.fingerprint
    assert back.catalog["item_id"].tolist() == [*ITEMS, "new"]
    assert back.catalog["tags"].tolist() == ["fried;hot", "", "", "", "", ""]
    assert back.catalog["available"].tolist() == [True, True, False, True, True, True]
    assert back.catalog["created_at"].isna().tolist() == [False] * 5 + [True]
    pd.testing.assert_frame_equal(
        recommend_frame(back, list(HISTORY), n=3), recommend_frame(bundle, list(HISTORY), n=3)
    )


def test_a_catalog_without_optional_columns_gets_defaults(tmp_path: Path) -> None:
    minimal = pd.DataFrame({"item_id": ["i0"], "kind": ["product"], "category": ["lunch"]})
    back = read_bundle(write_bundle(_bundle(minimal), tmp_path))
    row = back.catalog.iloc[0]
    assert (row["title"], row["tags"], bool(row["available"])) == ("", "", True)
    assert pd.isna(row["created_at"])


def test_reading_artifacts_that_do_not_belong_together_fails(tmp_path: Path) -> None:
    paths = write_bundle(_bundle(), tmp_path)
    np.savez(paths["id_maps"], users=np.array(["u0"]), items=np.array(ITEMS))
    with pytest.raises(ModelError, match="do not belong together"):
        read_bundle(paths)
    with pytest.raises(ModelError, match=r"\['spec'\] are missing"):
        read_bundle({k: v for k, v in paths.items() if k != "spec"})
