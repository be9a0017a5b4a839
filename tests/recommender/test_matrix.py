"""The confidence matrix: known answers for weights, sums, decay, fixed maps and id maps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from recommender.config import DEFAULT_WEIGHTS
from recommender.errors import ConfigError
from recommender.matrix import (
    EncodedEvents,
    IdMap,
    build_interactions,
    decay,
    epoch_seconds,
    event_weights,
)

DAY = 86_400
T0 = 1_700_000_000  # epoch seconds


def events(*rows: tuple[str, str, str, float]) -> pd.DataFrame:
    """(user, item, event, seconds after T0) rows as a canonical events frame."""
    users, items, kinds, offsets = zip(*rows, strict=True)
    return pd.DataFrame({
        "user_id": pd.array(users, dtype="str"),
        "item_id": pd.array(items, dtype="str"),
        "event": pd.array(kinds, dtype="str"),
        "timestamp": pd.to_datetime(T0 + np.array(offsets), unit="s", utc=True),
    })


def dense(frame: pd.DataFrame, **kwargs: object) -> tuple[np.ndarray, list[str], list[str]]:
    built = build_interactions(frame, kwargs.pop("weights", DEFAULT_WEIGHTS), **kwargs)
    return built.matrix.toarray(), list(built.users.ids), list(built.items.ids)


def test_each_event_counts_its_weight_and_repeats_are_summed() -> None:
    matrix, users, items = dense(events(
        ("u1", "a", "view", 0), ("u1", "a", "purchase", 0), ("u1", "b", "view", 0),
        ("u1", "b", "view", 0), ("u1", "b", "view", 0), ("u2", "a", "cart", 0),
    ))
    assert (users, items) == (["u1", "u2"], ["a", "b"])
    np.testing.assert_array_equal(matrix, [[9.0, 3.0], [4.0, 0.0]])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["u1", "u2", "3"]), st.sampled_from(["a", "b", "7"]),
                          st.sampled_from(sorted(DEFAULT_WEIGHTS)),
                          st.integers(0, 90 * DAY)), min_size=1, max_size=40))
def test_confidence_equals_a_plain_sum_of_decayed_weights(
        rows: list[tuple[str, str, str, int]]) -> None:
    frame = events(*rows)
    built = build_interactions(frame, DEFAULT_WEIGHTS, half_life_days=7)
    newest = max(offset for *_, offset in rows)
    expected = np.zeros(built.shape)
    for user, item, kind, offset in rows:
        age_days = (newest - offset) / DAY
        expected[built.users.get(user), built.items.get(item)] += (
            DEFAULT_WEIGHTS[kind] * 0.5 ** (age_days / 7))
    np.testing.assert_allclose(built.matrix.toarray(), expected, rtol=1e-5)


def test_the_matrix_is_float32_csr_in_users_by_items_orientation() -> None:
    built = build_interactions(events(("u1", "a", "view", 0), ("u2", "b", "view", 0),
                                      ("u3", "b", "view", 0)), DEFAULT_WEIGHTS)
    assert sparse.issparse(built.matrix) and built.matrix.format == "csr"
    assert built.matrix.dtype == np.float32
    assert built.shape == (3, 2) and built.nnz == 3
    assert built.matrix.has_canonical_format


def test_confidence_halves_every_half_life_back_from_the_newest_event() -> None:
    matrix, _, items = dense(events(
        ("u", "new", "purchase", 60 * DAY), ("u", "mid", "purchase", 30 * DAY),
        ("u", "old", "purchase", 0),
    ), half_life_days=30)
    assert items == ["new", "mid", "old"]
    np.testing.assert_allclose(matrix, [[8.0, 4.0, 2.0]], rtol=1e-6)


def test_decay_is_measured_from_a_given_reference_time_and_the_future_is_not_boosted() -> None:
    frame = events(("u", "a", "view", 0), ("u", "b", "view", 20 * DAY))
    reference = pd.Timestamp(T0 + 10 * DAY, unit="s", tz="UTC")
    matrix, _, _ = dense(frame, half_life_days=10, reference_time=reference)
    np.testing.assert_allclose(matrix, [[0.5, 1.0]], rtol=1e-6)


def test_half_life_zero_means_no_decay() -> None:
    matrix, _, _ = dense(events(("u", "a", "view", 0), ("u", "b", "view", 365 * DAY)),
                         half_life_days=0)
    np.testing.assert_array_equal(matrix, [[1.0, 1.0]])


def test_zero_weight_events_leave_no_entry() -> None:
    built = build_interactions(
        events(("u1", "a", "view", 0), ("u1", "b", "purchase", 0), ("u2", "a", "view", 0)),
        {"view": 0.0, "purchase": 8.0},
    )
    assert built.nnz == 1
    assert list(built.users.ids) == ["u1", "u2"]  # the map still knows u2; its row is empty
    np.testing.assert_array_equal(built.matrix.toarray(), [[0.0, 8.0], [0.0, 0.0]])


def test_fixed_id_maps_drop_events_with_unknown_ids_and_keep_their_order() -> None:
    users, items = IdMap.from_ids(["u2", "u1"]), IdMap.from_ids(["b", "a", "z"])
    built = build_interactions(
        events(("u1", "a", "view", 0), ("u9", "a", "view", 0), ("u2", "b", "cart", 0),
               ("u1", "q", "purchase", 0)),
        DEFAULT_WEIGHTS, users=users, items=items,
    )
    assert built.users is users and built.items is items
    np.testing.assert_array_equal(built.matrix.toarray(), [[4.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def test_an_empty_fixed_map_drops_everything() -> None:
    built = build_interactions(events(("u1", "a", "view", 0)), DEFAULT_WEIGHTS,
                               users=IdMap.from_ids([]))
    assert built.shape == (0, 1) and built.nnz == 0


def test_an_event_type_without_a_weight_is_a_config_error() -> None:
    frame = events(("u", "a", "view", 0), ("u", "a", "like", 0), ("u", "a", "poke", 0))
    with pytest.raises(ConfigError, match=r"\['like', 'poke'\] have no weight.*--weights like=1"):
        build_interactions(frame, DEFAULT_WEIGHTS)


def test_event_weights_maps_each_event_to_its_weight() -> None:
    kinds = pd.Series(["purchase", "view", "cart", "view"])
    np.testing.assert_array_equal(event_weights(kinds, DEFAULT_WEIGHTS), [8.0, 1.0, 4.0, 1.0])


def test_ids_given_as_objects_or_arrow_text_build_the_same_matrix() -> None:
    frame = events(("1", "10", "view", 0), ("2", "10", "cart", 0), ("1", "20", "view", 0))
    as_objects = frame.astype({"user_id": object, "item_id": object, "event": object})
    first = build_interactions(frame, DEFAULT_WEIGHTS)
    second = build_interactions(as_objects, DEFAULT_WEIGHTS)
    assert (first.matrix != second.matrix).nnz == 0
    assert list(first.users.ids) == list(second.users.ids) == ["1", "2"]


def test_ids_spread_over_arrow_chunks_share_one_map() -> None:
    def chunks(*values: object, kind: pa.DataType = pa.large_string()) -> pa.ChunkedArray:
        return pa.chunked_array([[value] for value in values], type=kind)

    chunked = pa.table({
        "user_id": chunks("u1", "u2", "u1", "u3"),
        "item_id": chunks("a", "b", "c", "a"),
        "event": chunks("view", "cart", "view", "purchase"),
        "timestamp": chunks(T0, T0, T0, T0, kind=pa.timestamp("s", tz="UTC")),
    }).to_pandas()
    assert chunked["user_id"].array._pa_array.num_chunks == 4
    built = build_interactions(chunked, DEFAULT_WEIGHTS)
    assert list(built.users.ids) == ["u1", "u2", "u3"] and list(built.items.ids) == ["a", "b", "c"]
    np.testing.assert_array_equal(built.matrix.toarray(),
                                  [[1.0, 0.0, 1.0], [0.0, 4.0, 0.0], [8.0, 0.0, 0.0]])


def test_epoch_seconds_reads_any_datetime_unit() -> None:
    stamps = pd.Series(pd.to_datetime([T0, T0 + 1.5], unit="s", utc=True))
    for unit in ("s", "ms", "us", "ns"):
        expected = [T0, T0 + 1] if unit == "s" else [T0, T0 + 1.5]
        np.testing.assert_allclose(epoch_seconds(stamps.dt.as_unit(unit)), expected)


def test_decay_of_no_events_is_empty() -> None:
    assert decay(np.array([], dtype=np.float64), 30).shape == (0,)


# ---------------------------------------------------------------------------------------- IdMap
def test_an_id_map_from_values_keeps_first_appearance_order_without_duplicates() -> None:
    ids = IdMap.from_values(["c", "a", "c", "b", "a"])
    assert list(ids.ids) == ["c", "a", "b"] and len(ids) == 3


def test_an_id_map_round_trips_ids_and_indices() -> None:
    ids = IdMap.from_values(pd.Series(["u7", "u3", "u9"], dtype="str"))
    indices = ids.to_index(["u9", "u7", "nope", "u3"])
    np.testing.assert_array_equal(indices, [2, 0, -1, 1])
    assert list(ids.to_ids(indices[indices >= 0])) == ["u9", "u7", "u3"]
    assert (ids.get("u3"), ids.get("nope")) == (1, None)
    assert "u9" in ids and "nope" not in ids


def test_an_id_map_from_ids_keeps_their_order_and_refuses_duplicates() -> None:
    assert list(IdMap.from_ids(np.array(["b", "a"], dtype=object)).ids) == ["b", "a"]
    with pytest.raises(ValueError, match="unique"):
        IdMap.from_ids(["a", "b", "a"])


def test_numeric_ids_are_mapped_as_text() -> None:
    ids = IdMap.from_values(np.array([196, 242, 196]))
    assert list(ids.ids) == ["196", "242"]
    np.testing.assert_array_equal(ids.to_index(["242", "196"]), [1, 0])


# ---------------------------------------------------------------------------------- encoded
def _mixed() -> pd.DataFrame:
    return events(
        ("u2", "b", "view", 0), ("u1", "a", "purchase", DAY), ("u2", "a", "cart", 2 * DAY),
        ("u3", "c", "view", 3 * DAY), ("u1", "b", "view", 4 * DAY), ("u2", "b", "view", 5 * DAY),
    )


def test_encoded_events_number_ids_and_types_by_first_appearance() -> None:
    encoded = EncodedEvents.from_frame(_mixed())
    assert list(encoded.user_ids.ids) == ["u2", "u1", "u3"]
    assert list(encoded.item_ids.ids) == ["b", "a", "c"]
    assert encoded.kind_names == ["view", "purchase", "cart"]
    assert encoded.users.tolist() == [0, 1, 0, 2, 1, 0]
    assert len(encoded) == 6
    np.testing.assert_array_equal(encoded.weights({"view": 1, "purchase": 8, "cart": 3}),
                                  [1, 8, 3, 1, 1, 1])


@pytest.mark.parametrize("half_life", [0.0, 2.0])
@pytest.mark.parametrize("rows", [None, [True, False, True, False, True, True],
                                  [False, True, False, True, True, False]])
def test_encoded_matrices_equal_those_built_from_the_same_rows(
    half_life: float, rows: list[bool] | None
) -> None:
    frame = _mixed()
    mask = None if rows is None else np.array(rows)
    want = build_interactions(frame if mask is None else frame[mask], DEFAULT_WEIGHTS, half_life)
    got = EncodedEvents.from_frame(frame).interactions(DEFAULT_WEIGHTS, half_life, rows=mask)
    assert list(got.users.ids) == list(want.users.ids)
    assert list(got.items.ids) == list(want.items.ids)
    np.testing.assert_array_equal(got.matrix.toarray(), want.matrix.toarray())


def test_encoded_weights_refuse_a_type_without_weight() -> None:
    with pytest.raises(ConfigError, match="'cart'"):
        EncodedEvents.from_frame(_mixed()).weights({"view": 1, "purchase": 8})


def test_encoded_rows_without_an_id_contribute_nothing() -> None:
    frame = _mixed()
    frame["user_id"] = pd.array(["u2", None, "u2", "u3", "u1", "u2"], dtype="str")
    got = EncodedEvents.from_frame(frame).interactions(DEFAULT_WEIGHTS)
    assert list(got.users.ids) == ["u2", "u3", "u1"]
    assert got.matrix.sum() == pytest.approx(sum(DEFAULT_WEIGHTS[e] for e in
                                                 ["view", "cart", "view", "view", "view"]))
