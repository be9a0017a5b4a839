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
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown --protocol {protocol!r}; valid values: {', '.join(PROTOCOLS)}")
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"--ratio must be strictly between 0 and 1 (e.g. 0.75), got {ratio!r}")
    if protocol == "temporal":
        train_mask, test_mask = _temporal_masks(events, ratio)
    else:
        if protocol == "stratified":
            train_mask = _stratified_mask(events, ratio, seed)
        else:
            train_mask = _leave_last_mask(events)
        test_mask = ~train_mask
    train = events.loc[train_mask].reset_index(drop=True)
    test = events.loc[test_mask].reset_index(drop=True)
    return Split(train=train, test=test, protocol=protocol, ratio=ratio, seed=seed)


def _rank_within_user(user_codes: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rank (0-based) of each row within its user, given rows ``order``-ed by user then key."""
    sorted_users = user_codes[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_users)) + 1]
    group_start = np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - group_start
    return ranks


def _stratified_mask(events: pd.DataFrame, ratio: float, seed: int) -> np.ndarray:
    """Rows whose random rank within their user falls below that user's train count."""
    n_rows = len(events)
    if n_rows == 0:
        return np.zeros(0, dtype=bool)
    user_codes, _ = pd.factorize(events["user_id"], sort=False)
    keys = np.random.default_rng(seed).random(n_rows)
    order = np.lexsort((keys, user_codes))
    ranks = _rank_within_user(user_codes, order)
    per_user = np.bincount(user_codes)
    n_train = np.maximum(np.rint(ratio * per_user).astype(np.int64), 1)
    return ranks < n_train[user_codes]


def _temporal_masks(events: pd.DataFrame, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Train = before the ``ratio`` time quantile; test = at/after it, for train users only."""
    if len(events) == 0:
        empty = np.zeros(0, dtype=bool)
        return empty, empty
    seconds = epoch_seconds(events["timestamp"])
    train_mask = seconds < np.quantile(seconds, ratio)
    user_codes, uniques = pd.factorize(events["user_id"], sort=False)
    seen_before = np.zeros(len(uniques), dtype=bool)
    seen_before[user_codes[train_mask]] = True
    return train_mask, ~train_mask & seen_before[user_codes]


def _leave_last_mask(events: pd.DataFrame) -> np.ndarray:
    """Everything but each user's last event (by time, then row order); single events stay."""
    n_rows = len(events)
    if n_rows == 0:
        return np.zeros(0, dtype=bool)
    user_codes, _ = pd.factorize(events["user_id"], sort=False)
    seconds = epoch_seconds(events["timestamp"])
    order = np.lexsort((np.arange(n_rows), seconds, user_codes))
    ranks = _rank_within_user(user_codes, order)
    per_user = np.bincount(user_codes)
    is_last = ranks == per_user[user_codes] - 1
    return ~is_last | (per_user[user_codes] == 1)
