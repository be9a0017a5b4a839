"""The compact byte encodings shared by ``publish`` (writing) and serving (reading).

**Ranked list** (``encode_lists`` / ``decode_list``), little-endian::

    byte 0       width code: 1 = item indices are uint16, 2 = uint32
    bytes 1-4    float32 lo: the lowest score of the list
    bytes 5-8    float32 hi: the highest score
    then         N item indices (uint16 or uint32); the largest value of the type marks padding
    then         N uint8 quantized scores: score = lo + q * (hi - lo) / 255

A 100-item list over fewer than 65,535 items takes 9 + 300 bytes. Quantization keeps the order
of the list and each score within ``(hi - lo) / 510`` of the original.

**Profile** (``encode_profiles`` / ``decode_profile``): a user's top categories and the items
seen in training::

    byte 0       width code (as above)
    byte 1       k, the number of category slots that follow
    then         k uint16 category codes (0xFFFF = unused slot), then k uint8 shares
                 (share * 255 of the user's total weight)
    then         the seen item indices (uint16 or uint32) to the end

Vectorized over users: one numpy pass per batch, then one ``bytes`` object per user.
"""

from __future__ import annotations

import struct
import sys
from typing import NamedTuple

import numpy as np
from scipy import sparse

from recommender.lists import Profile, RankedList

_WIDTHS: dict[int, np.dtype] = {1: np.dtype("<u2"), 2: np.dtype("<u4")}
_MARKERS = {code: int(np.iinfo(dtype).max) for code, dtype in _WIDTHS.items()}
_BOUNDS = struct.Struct("<ff")
_CASTS = {1: "H", 2: "I"}
_NATIVE_LITTLE = sys.byteorder == "little"
_HEADER = 9
_LEVELS = 255
_NO_CATEGORY = 0xFFFF


def width_code(n_items: int) -> int:
    """1 (uint16) when every index and the padding marker fit in 16 bits, else 2 (uint32)."""
    if n_items < np.iinfo(np.uint16).max:
        return 1
    if n_items < np.iinfo(np.uint32).max:
        return 2
    raise ValueError(f"too many items to encode: {n_items}")


def _rows_to_bytes(rows: np.ndarray) -> list[bytes]:
    """One ``bytes`` per row of a 2-D uint8 array, without a Python loop over the rows."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    if rows.shape[1] == 0:
        return [b""] * rows.shape[0]
    result: list[bytes] = rows.view(np.dtype((np.void, rows.shape[1]))).ravel().tolist()
    return result


def encode_lists(ids: np.ndarray, scores: np.ndarray, n_items: int) -> list[bytes]:
    """Encode ranked lists, one row each; ``-1`` ids (and non-finite scores) are padding.

    Parameters
    ----------
    ids : (n, N) int array
        Item indices, best first, ``-1`` where a row has fewer than ``N`` items.
    scores : (n, N) float array
        Their scores, non-increasing along each row.
    n_items : int
        Number of items of the version (picks uint16 or uint32 indices).
    """
    ids = np.atleast_2d(np.asarray(ids, dtype=np.int64))
    scores = np.atleast_2d(np.asarray(scores, dtype=np.float32))
    code = width_code(n_items)
    dtype = _WIDTHS[code]
    valid = (ids >= 0) & np.isfinite(scores)
    keep = valid.any(axis=0)
    if not keep.all():  # drop the columns that are padding in every row
        ids, scores, valid = ids[:, keep], scores[:, keep], valid[:, keep]
    masked = np.where(valid, scores, np.nan)
    with np.errstate(all="ignore"):
        lo = np.nan_to_num(np.nanmin(masked, axis=1, initial=np.inf), posinf=0.0)
        hi = np.nan_to_num(np.nanmax(masked, axis=1, initial=-np.inf), neginf=0.0)
    span = (hi - lo)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        level = np.where(span > 0, (scores - lo[:, None]) / span * _LEVELS, _LEVELS)
    quantized = np.where(valid, np.rint(np.clip(level, 0, _LEVELS)), 0).astype(np.uint8)
    marker = np.iinfo(dtype).max
    indices = np.ascontiguousarray(np.where(valid, ids, marker), dtype=dtype)
    n = len(ids)
    header = np.empty((n, _HEADER), dtype=np.uint8)
    header[:, 0] = code
    header[:, 1:5] = lo.astype("<f4").reshape(n, 1).view(np.uint8)
    header[:, 5:9] = hi.astype("<f4").reshape(n, 1).view(np.uint8)
    body = np.concatenate([header, indices.view(np.uint8).reshape(n, -1), quantized], axis=1)
    return _rows_to_bytes(body)


def decode_list(blob: bytes) -> RankedList:
    """The items and scores of one encoded list, padding dropped."""
    dtype = _WIDTHS[blob[0]]
    lo, hi = _BOUNDS.unpack_from(blob, 1)
    count = (len(blob) - _HEADER) // (dtype.itemsize + 1)
    items = np.frombuffer(blob, dtype=dtype, count=count, offset=_HEADER)
    offset = _HEADER + count * dtype.itemsize
    levels = np.frombuffer(blob, dtype=np.uint8, count=count, offset=offset)
    scores = levels * ((hi - lo) / _LEVELS) + lo
    if count and items[-1] == _MARKERS[blob[0]]:  # padding sits at the end of a list
        valid = items != _MARKERS[blob[0]]
        items, scores = items[valid], scores[valid]
    return RankedList(items, scores)


class ListView(NamedTuple):
    """A list read without numpy, for request handlers that look at its first few items:
    ``items`` as Python ints; the score at ``position`` is ``lo + levels[position] * step``."""

    items: list[int]
    levels: bytes
    lo: float
    step: float


def read_list(blob: bytes) -> ListView:
    """``decode_list`` for a handler: the same items and scores, none computed in advance."""
    code = blob[0]
    width = _WIDTHS[code].itemsize
    lo, hi = _BOUNDS.unpack_from(blob, 1)
    count = (len(blob) - _HEADER) // (width + 1)
    end = _HEADER + width * count
    if _NATIVE_LITTLE:  # a memoryview cast reads the native byte order
        items = memoryview(blob)[_HEADER:end].cast(_CASTS[code]).tolist()
    else:  # pragma: no cover
        items = np.frombuffer(blob, dtype=_WIDTHS[code], count=count, offset=_HEADER).tolist()
    levels = blob[end:]
    if count and items[-1] == _MARKERS[code]:  # padding sits at the end of a list
        count = items.index(_MARKERS[code])
        items, levels = items[:count], levels[:count]
    return ListView(items, levels, lo, (hi - lo) / _LEVELS)


def read_categories(blob: bytes) -> list[int]:
    """A profile's category codes, best first, without reading its seen items."""
    k = blob[1]
    return [code for code in struct.unpack_from(f"<{k}H", blob, 2) if code != _NO_CATEGORY]


def read_seen(blob: bytes) -> list[int]:
    """A profile's seen item indices as Python ints (``decode_profile`` for a handler)."""
    code, k = blob[0], blob[1]
    start = 2 + 3 * k
    if _NATIVE_LITTLE:
        return memoryview(blob)[start:].cast(_CASTS[code]).tolist()
    return np.frombuffer(blob, dtype=_WIDTHS[code], offset=start).tolist()  # pragma: no cover


def encode_indices(
    rows: sparse.csr_matrix, n_items: int, prefix: list[bytes] | None = None
) -> list[bytes]:
    """The stored column indices of each CSR row as uint16/uint32 bytes, after ``prefix[i]``."""
    dtype = _WIDTHS[width_code(n_items)]
    rows = sparse.csr_matrix(rows)
    flat = rows.indices.astype(dtype).tobytes()
    bounds = (rows.indptr * dtype.itemsize).tolist()
    heads = prefix if prefix is not None else [b""] * rows.shape[0]
    return [head + flat[a:b] for head, a, b in zip(heads, bounds[:-1], bounds[1:], strict=True)]


def encode_profiles(
    categories: np.ndarray, shares: np.ndarray, seen: sparse.csr_matrix, n_items: int
) -> list[bytes]:
    """Profiles of ``len(categories)`` users.

    Parameters
    ----------
    categories : (n, k) int array
        Each user's top category codes, best first, ``-1`` where the user has fewer.
    shares : (n, k) float array
        The share of the user's total weight in each of those categories (0..1).
    seen : (n, n_items) CSR matrix
        The items each user interacted with in training.
    """
    categories = np.atleast_2d(np.asarray(categories, dtype=np.int64))
    shares = np.atleast_2d(np.asarray(shares, dtype=np.float64))
    n, k = categories.shape
    valid = categories >= 0
    head = np.empty((n, 2 + 3 * k), dtype=np.uint8)
    head[:, 0] = width_code(n_items)
    head[:, 1] = k
    codes = np.where(valid, categories, _NO_CATEGORY).astype("<u2")
    head[:, 2 : 2 + 2 * k] = codes.view(np.uint8).reshape(n, 2 * k)
    head[:, 2 + 2 * k :] = np.rint(np.clip(np.where(valid, shares, 0), 0, 1) * _LEVELS)
    return encode_indices(seen, n_items, _rows_to_bytes(head))


def decode_profile(blob: bytes) -> Profile:
    """The categories, shares and seen items of one encoded profile."""
    dtype = _WIDTHS[blob[0]]
    k = blob[1]
    categories = np.frombuffer(blob, dtype="<u2", count=k, offset=2).astype(np.int64)
    shares = np.frombuffer(blob, dtype=np.uint8, count=k, offset=2 + 2 * k) / _LEVELS
    seen = np.frombuffer(blob, dtype=dtype, offset=2 + 3 * k).astype(np.int64)
    used = categories != _NO_CATEGORY
    return Profile(categories[used], shares[used], seen)
