"""Capping the evaluated users: a seeded, sorted subset, the same for the same seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recommender.evaluation import EvalData, prepare
from training.job_data import sample_users


def _data() -> EvalData:
    users = np.repeat([f"u{i}" for i in range(40)], 8)
    events = pd.DataFrame({
        "user_id": users,
        "item_id": [f"i{j % 10}" for j in range(len(users))],
        "event": "view",
        "timestamp": pd.Timestamp("2024-01-01", tz="UTC"),
    })
    return prepare(events, "stratified", 0.75, 42, {"view": 1.0}, 0.0)


def test_sampling_keeps_a_sorted_seeded_subset_and_says_so() -> None:
    data = _data()
    assert len(data.users) == 40
    sampled = sample_users(data, 10, seed=42)
    assert len(sampled.users) == 10 and np.all(np.diff(sampled.users) > 0)
    assert set(sampled.users) <= set(data.users)
    assert np.array_equal(sample_users(data, 10, seed=42).users, sampled.users)
    assert not np.array_equal(sample_users(data, 10, seed=1).users, sampled.users)
    assert sampled.summary["eval_users"] == 10
    assert sampled.summary["eval_users_before_sampling"] == 40
    assert sampled.train is data.train and sampled.test is data.test


def test_no_cap_or_a_cap_above_the_user_count_changes_nothing() -> None:
    data = _data()
    assert sample_users(data, 0, seed=42) is data
    assert sample_users(data, 40, seed=42) is data
