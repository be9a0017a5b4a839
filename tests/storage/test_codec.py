"""The compact list and profile encodings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import sparse

from storage.codec import (
    decode_list,
    decode_profile,
    encode_lists,
    encode_profiles,
    width_code,
)


def test_a_100_item_list_is_309_bytes_over_a_small_catalog() -> None:
    ids = np.arange(100)[None, :]
    scores = np.linspace(1, 0, 100, dtype=np.float32)[None, :]
    (blob,) = encode_lists(ids, scores, n_items=5000)
    assert len(blob) == 9 + 100 * 3
    decoded = decode_list(blob)
    assert decoded.items.tolist() == list(range(100))
    assert decoded.scores == pytest.approx(scores[0], abs=1 / 510 + 1e-6)


def test_padding_and_empty_rows_decode_to_shorter_lists() -> None:
    ids = np.array([[5, 3, -1], [-1, -1, -1]])
    scores = np.array([[2.0, -1.0, -np.inf], [-np.inf] * 3], dtype=np.float32)
    full, empty = (decode_list(b) for b in encode_lists(ids, scores, 10))
    assert full.items.tolist() == [5, 3] and full.scores == pytest.approx([2.0, -1.0])
    assert empty.items.tolist() == [] and empty.scores.tolist() == []


def test_equal_scores_and_large_catalogs_round_trip() -> None:
    ids = np.array([[70_000, 1]])
    (blob,) = encode_lists(ids, np.array([[0.5, 0.5]], dtype=np.float32), n_items=80_000)
    assert blob[0] == 2 and len(blob) == 9 + 2 * 5
    assert decode_list(blob).items.tolist() == [70_000, 1]
    assert decode_list(blob).scores == pytest.approx([0.5, 0.5])
    assert width_code(65_534) == 1 and width_code(65_535) == 2


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False, width=32), min_size=1, max_size=60))
def test_quantization_keeps_the_order_and_bounds_the_error(values: list[float]) -> None:
    scores = np.sort(np.array(values, dtype=np.float32))[::-1]
    (blob,) = encode_lists(np.arange(len(scores))[None, :], scores[None, :], 100)
    decoded = decode_list(blob).scores
    assert np.all(np.diff(decoded) <= 1e-9)
    span = float(scores.max() - scores.min())
    assert np.abs(decoded - scores).max() <= span / 510 + 1e-3


def test_profiles_keep_categories_shares_and_seen_items() -> None:
    seen = sparse.csr_matrix(np.array([[1, 0, 1, 0], [0, 0, 0, 0]], dtype=np.float32))
    codes = np.array([[3, 0, -1], [-1, -1, -1]])
    shares = np.array([[0.6, 0.4, 0.0], [0.0, 0.0, 0.0]])
    first, second = (decode_profile(b) for b in encode_profiles(codes, shares, seen, 4))
    assert first.categories.tolist() == [3, 0] and first.seen.tolist() == [0, 2]
    assert first.shares == pytest.approx([0.6, 0.4], abs=1 / 255)
    assert second.categories.tolist() == [] and second.seen.tolist() == []
