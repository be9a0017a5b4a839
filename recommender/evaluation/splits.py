"""Train/test splits of an events frame, one per evaluation protocol.

- ``stratified``: per user, a seeded random ``ratio`` of that user's events train, the rest test.
  ``n_train = round(ratio * n)`` (Python's rounding, half to even), at least 1, so users with one
  event are train-only.
- ``temporal``: one global cut at the ``ratio`` quantile of time; train = before the cut, test =
  at or after it, restricted to users seen before the cut.
- ``leave-last``: each user's last event (by time, ties broken by row order) is the test; users
  with one event are train-only.

Every protocol is vectorized (no Python loop over users or rows) and keeps the rows of each part
in their original order, with a fresh ``RangeIndex``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recommender.errors import ConfigError
from recommender.matrix import epoch_seconds

PROTOCOLS = ("stratified", "temporal", "leave-last")


@dataclass(frozen=True)
class Split:
    """The two parts of an events frame and how they were made."""

    train: pd.DataFrame
    test: pd.DataFrame
    protocol: str
    ratio: float
    seed: int


def split_events(events: pd.DataFrame, protocol: str, ratio: float = 0.75, seed: int = 42) -> Split:
    """Split canonical events into train and test by ``protocol``.

    Parameters
    ----------
    events : DataFrame
        Canonical events (``user_id``, ``item_id``, ``event``, ``timestamp`` in UTC).
    protocol : str
        One of ``stratified``, ``temporal``, ``leave-last``.
    ratio : float
        Train share, strictly between 0 and 1 (unused by ``leave-last`` but still checked).
    seed : int
        Seed of the random draw (``stratified`` only); the same seed gives the same split.

    Raises
    ------
    ConfigError
        Unknown protocol or a ratio outside (0, 1).
    """
    user_codes, _ = pd.factorize(events["user_id"], sort=False)
    seconds = epoch_seconds(events["timestamp"])
    train_mask, test_mask = split_masks(user_codes, seconds, protocol, ratio, seed)
    train = events.loc[train_mask].reset_index(drop=True)
    test = events.loc[test_mask].reset_index(drop=True)
    return Split(train=train, test=test, protocol=protocol, ratio=ratio, seed=seed)


def check_protocol(protocol: str) -> None:
    """A ``ConfigError`` unless ``protocol`` is one of ``PROTOCOLS``."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown --protocol {protocol!r}; valid values: {', '.join(PROTOCOLS)}")


def check_ratio(ratio: float) -> None:
    """A ``ConfigError`` unless ``0 < ratio < 1`` (the train share of a split)."""
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"--ratio must be strictly between 0 and 1 (e.g. 0.75), got {ratio!r}")


def split_masks(
    users: np.ndarray, seconds: np.ndarray, protocol: str, ratio: float = 0.75, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row masks of a split, from each row's user code and epoch seconds.

    ``users`` are integer codes, one per user (any numbering); see ``split_events`` for the rest.
    """
    check_protocol(protocol)
    check_ratio(ratio)
    if protocol == "temporal":
        return _temporal_masks(users, seconds, ratio)
    if protocol == "stratified":
        train_mask = _stratified_mask(users, ratio, seed)
    else:
        train_mask = _leave_last_mask(users, seconds)
    return train_mask, ~train_mask


def _sorted_ranks(sorted_users: np.ndarray) -> np.ndarray:
    """Rank (0-based) of each position within its run of equal user codes."""
    n_rows = len(sorted_users)
    starts = np.r_[0, np.flatnonzero(sorted_users[1:] != sorted_users[:-1]) + 1]
    ranks = np.arange(n_rows)
    ranks -= np.repeat(starts, np.diff(np.r_[starts, n_rows]))
    return ranks


def _rank_within_user(user_codes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rank (0-based) of each row within its user, given rows ``order``-ed by user then key."""
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = _sorted_ranks(user_codes[order])
    return ranks


def _stratified_mask(user_codes: np.ndarray, ratio: float, seed: int) -> np.ndarray:
    """Rows whose random rank within their user falls below that user's train count.

    Rows are ordered by ``user code + uniform key in [0, 1)``: one float sort, several times
    faster than a two-key ``lexsort`` and the same order (a million users still leave the keys
    about 32 bits of resolution).
    """
    n_rows = len(user_codes)
    if n_rows == 0:
        return np.zeros(0, dtype=bool)
    keys = np.random.default_rng(seed).random(n_rows)
    keys += user_codes
    order = np.argsort(keys)
    del keys
    sorted_users = user_codes[order]
    n_train = np.maximum(np.rint(ratio * np.bincount(user_codes)).astype(np.int64), 1)
    train = np.empty(n_rows, dtype=bool)
    train[order] = _sorted_ranks(sorted_users) < n_train[sorted_users]
    return train


def _temporal_masks(
    user_codes: np.ndarray, seconds: np.ndarray, ratio: float
) -> tuple[np.ndarray, np.ndarray]:
    """Train = before the ``ratio`` time quantile; test = at/after it, for train users only."""
    if len(user_codes) == 0:
        empty = np.zeros(0, dtype=bool)
        return empty, empty
    train_mask = seconds < np.quantile(seconds, ratio)
    seen_before = np.zeros(int(user_codes.max()) + 1, dtype=bool)
    seen_before[user_codes[train_mask]] = True
    return train_mask, ~train_mask & seen_before[user_codes]


def _leave_last_mask(user_codes: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Everything but each user's last event (by time, then row order); single events stay."""
    n_rows = len(user_codes)
    if n_rows == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((np.arange(n_rows), seconds, user_codes))
    ranks = _rank_within_user(user_codes, order)
    per_user = np.bincount(user_codes)
    is_last = ranks == per_user[user_codes] - 1
    return ~is_last | (per_user[user_codes] == 1)
