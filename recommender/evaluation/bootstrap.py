"""Paired bootstrap of the difference between two models' per-user metrics on the same users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_MAX_CELLS = 4_000_000  # resampled values held in memory at once


@dataclass(frozen=True)
class BootstrapInterval:
    """Mean of ``b - a``, its percentile interval and a two-sided p-value for "no difference"."""

    mean_diff: float
    low: float
    high: float
    p_value: float


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    n_resamples: int = 2000,
    seed: int = 42,
    level: float = 0.95,
) -> BootstrapInterval:
    """Bootstrap the mean per-user difference ``b - a``.

    Users are resampled with replacement (the same draw for both models, so the pairing is
    kept), in chunks of index rows. The interval is the percentile interval at ``level``. The
    p-value tests a zero mean difference: the share of resampled means, shifted to centre on 0,
    at least as far from 0 as the observed mean, ``(1 + count) / (1 + n_resamples)``.

    Parameters
    ----------
    a, b : 1-D arrays of the same length
        Per-user metric values of the baseline and the challenger, same users, same order.
    n_resamples : int
        Number of bootstrap resamples.
    seed : int
        Seed of the resampling; the same seed gives the same interval.
    level : float
        Confidence level of the interval, strictly between 0 and 1.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 1 or a.shape != b.shape or len(a) == 0:
        raise ValueError(
            f"a and b must be non-empty 1-D arrays of the same length, got {a.shape} and {b.shape}"
        )
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be strictly between 0 and 1, got {level}")
    diff = b - a
    observed = float(diff.mean())
    rng = np.random.default_rng(seed)
    chunk = max(1, _MAX_CELLS // len(diff))
    means = np.empty(n_resamples, dtype=np.float64)
    for start in range(0, n_resamples, chunk):
        rows = min(chunk, n_resamples - start)
        draws = rng.integers(0, len(diff), size=(rows, len(diff)))
        means[start : start + rows] = diff[draws].mean(axis=1)
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    extreme = np.count_nonzero(np.abs(means - observed) >= abs(observed))
    return BootstrapInterval(
        mean_diff=observed,
        low=float(low),
        high=float(high),
        p_value=float((1 + extreme) / (1 + n_resamples)),
    )
