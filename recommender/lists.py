"""Decoded lists and profiles: the plain data the business rules work on (``storage.codec``
turns the bytes in Redis into these)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class RankedList(NamedTuple):
    """Item indices (unsigned ints) and their scores, best first."""

    items: np.ndarray
    scores: np.ndarray


class Profile(NamedTuple):
    """Category codes with their shares (best first) and the indices of the items seen."""

    categories: np.ndarray
    shares: np.ndarray
    seen: np.ndarray


def empty_list() -> RankedList:
    """A list with no items."""
    return RankedList(np.empty(0, np.int64), np.empty(0))
