"""Ranking metrics @k and the paired bootstrap, on tiny cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import sparse

from recommender.evaluation import (
    coverage,
    hits_at_k,
    paired_bootstrap,
    per_user_metrics,
    ranking_metrics,
)


def relevance(rows: list[list[int]], n_items: int) -> sparse.csr_matrix:
    """Binary CSR with row ``u`` holding the item indices ``rows[u]``."""
    indptr = np.cumsum([0] + [len(r) for r in rows])
    indices = np.array([i for r in rows for i in r], dtype=np.int64)
    data = np.ones(len(indices), dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), n_items))


def one_user(recommended: list[int], relevant: list[int], n_items: int = 10) -> dict[str, float]:
    values = per_user_metrics(np.array([recommended]), relevance([relevant], n_items))
    return {name: float(v[0]) for name, v in values.items()}


def test_precision_divides_by_k_even_when_fewer_items_are_relevant() -> None:
    # k = 5, one relevant item, hit at rank 1: precision = 1/5 (implicit: 1/min(5, 1) = 1)
    m = one_user([3, 1, 2, 4, 0], [3])
    assert m["precision@5"] == pytest.approx(0.2)
    assert m["recall@5"] == pytest.approx(1.0)
    assert m["hit_rate@5"] == 1.0


def test_ndcg_is_one_for_the_ideal_ordering() -> None:
    # relevant {0, 1, 2} recommended first, in any order: DCG = IDCG
    assert one_user([2, 0, 1, 3, 4], [0, 1, 2])["ndcg@5"] == pytest.approx(1.0)
    # more relevant than k, all k hit: IDCG is over min(k, |rel|) = 3, so still 1
    assert one_user([0, 1, 2], [0, 1, 2, 3, 4, 5])["ndcg@3"] == pytest.approx(1.0)


def test_ndcg_of_hits_at_ranks_two_and_three() -> None:
    # relevant {0, 1}, hits at ranks 2 and 3:
    # DCG  = 1/log2(3) + 1/log2(4) = 0.63093 + 0.5     = 1.13093
    # IDCG = 1/log2(2) + 1/log2(3) = 1     + 0.63093 = 1.63093
    expected = (1 / math.log2(3) + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert one_user([2, 0, 1, 3, 4], [0, 1])["ndcg@5"] == pytest.approx(expected)
    assert expected == pytest.approx(0.693426, abs=1e-6)


def test_map_sums_precision_at_each_hit_over_min_k_and_relevant() -> None:
    # relevant {0, 2, 4}, k = 5, hits at ranks 1, 3, 5:
    # P@1 = 1, P@3 = 2/3, P@5 = 3/5 -> (1 + 2/3 + 3/5) / min(5, 3) = 2.26667 / 3 = 0.75556
    assert one_user([0, 1, 2, 3, 4], [0, 2, 4])["map@5"] == pytest.approx(0.755556, abs=1e-6)
    # 7 relevant, k = 3, hits at ranks 1 and 3: (1 + 2/3) / min(3, 7) = 0.55556; recall = 2/7
    m = one_user([0, 9, 1], [0, 1, 2, 3, 4, 5, 6])
    assert m["map@3"] == pytest.approx(5 / 9)
    assert m["recall@3"] == pytest.approx(2 / 7)
    assert m["precision@3"] == pytest.approx(2 / 3)


def test_padding_is_never_a_hit_even_when_the_last_item_is_relevant() -> None:
    # -1 would index the last column (item 9) if used naively
    m = one_user([-1, -1, -1], [9])
    assert m == {
        "precision@3": 0.0,
        "recall@3": 0.0,
        "ndcg@3": 0.0,
        "map@3": 0.0,
        "hit_rate@3": 0.0,
    }
    assert hits_at_k(np.array([[5, -1]]), relevance([[5, 9]], 10)).tolist() == [[True, False]]
    # padding in row 1 must not land on the last item of row 0 either
    two_rows = hits_at_k(np.array([[9, 0], [-1, 1]]), relevance([[9], [1]], 10))
    assert two_rows.tolist() == [[True, False], [False, True]]


def test_a_test_only_column_counts_as_relevant_but_is_never_recommended() -> None:
    # item 10 exists only in the test columns: |rel| = 2, one hit
    m = one_user([3, 4], [3, 10], n_items=11)
    assert m["recall@2"] == pytest.approx(0.5)


def test_hits_are_looked_up_in_each_users_own_row() -> None:
    recommended = np.array([[0, 1], [0, 1], [2, 0]])
    rel = relevance([[1], [0, 3], [5]], 6)
    assert hits_at_k(recommended, rel).tolist() == [[False, True], [True, False], [False, False]]


def test_coverage_counts_distinct_items_over_the_train_catalog() -> None:
    # distinct {0, 1, 2} of 10 items; padding not counted
    assert coverage(np.array([[0, 1], [1, 2], [-1, -1]]), 10) == pytest.approx(0.3)


def test_ranking_metrics_are_means_with_exact_keys() -> None:
    # user 0: rec [0, 1], rel {1}: P 1/2, R 1, nDCG 1/log2(3) = 0.63093, AP (1/2)/1 = 0.5, hit 1
    # user 1: rec [2, 3], rel {0, 5}: all 0
    result = ranking_metrics(np.array([[0, 1], [2, 3]]), relevance([[1], [0, 5]], 6), n_items=8)
    assert list(result) == [
        "precision@2",
        "recall@2",
        "ndcg@2",
        "map@2",
        "hit_rate@2",
        "coverage@2",
    ]
    assert result["precision@2"] == pytest.approx(0.25)
    assert result["recall@2"] == pytest.approx(0.5)
    assert result["ndcg@2"] == pytest.approx(1 / math.log2(3) / 2)
    assert result["map@2"] == pytest.approx(0.25)
    assert result["hit_rate@2"] == pytest.approx(0.5)
    assert result["coverage@2"] == pytest.approx(4 / 8)


def test_vectorized_metrics_agree_with_a_plain_loop_on_random_data() -> None:
    rng = np.random.default_rng(7)
    n_users, n_items, k = 60, 30, 7
    recommended = np.array([rng.permutation(n_items)[:k] for _ in range(n_users)])
    recommended[rng.random((n_users, k)) < 0.1] = -1
    rows = [
        list(rng.choice(n_items, size=rng.integers(1, 12), replace=False)) for _ in range(n_users)
    ]
    values = per_user_metrics(recommended, relevance(rows, n_items))
    for u in range(n_users):
        rel = set(rows[u])
        hits = [int(i in rel) for i in recommended[u]]
        dcg = sum(h / math.log2(i + 2) for i, h in enumerate(hits))
        idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(rel))))
        ap = sum(sum(hits[: i + 1]) / (i + 1) * hits[i] for i in range(k)) / min(k, len(rel))
        assert values[f"precision@{k}"][u] == pytest.approx(sum(hits) / k)
        assert values[f"recall@{k}"][u] == pytest.approx(sum(hits) / len(rel))
        assert values[f"ndcg@{k}"][u] == pytest.approx(dcg / idcg)
        assert values[f"map@{k}"][u] == pytest.approx(ap)
        assert values[f"hit_rate@{k}"][u] == float(any(hits))


def test_a_user_without_relevant_items_is_refused() -> None:
    with pytest.raises(ValueError, match="no relevant item"):
        per_user_metrics(np.array([[0, 1], [0, 1]]), relevance([[1], []], 4))


def test_relevance_rows_must_match_the_recommended_users() -> None:
    with pytest.raises(ValueError, match="rows"):
        per_user_metrics(np.array([[0, 1]]), relevance([[1], [2]], 4))


def test_bootstrap_of_identical_arrays_is_centred_on_zero() -> None:
    a = np.random.default_rng(1).random(300)
    result = paired_bootstrap(a, a.copy())
    assert result.mean_diff == 0.0
    assert result.low == 0.0 and result.high == 0.0
    assert result.p_value == 1.0


def test_bootstrap_of_noisy_equal_models_covers_zero() -> None:
    rng = np.random.default_rng(2)
    a = rng.random(400)
    noise = rng.normal(0.0, 0.1, size=400)
    b = a + noise - noise.mean()  # noisy, but the mean difference is exactly zero
    result = paired_bootstrap(a, b, n_resamples=1000, seed=3)
    assert result.mean_diff == pytest.approx(0.0, abs=1e-12)
    assert result.low < 0.0 < result.high
    assert result.p_value > 0.5


def test_bootstrap_of_a_clearly_better_model_excludes_zero() -> None:
    rng = np.random.default_rng(4)
    a = rng.random(500)
    b = a + 0.05 + rng.normal(0.0, 0.02, size=500)
    result = paired_bootstrap(a, b, n_resamples=1000, seed=5)
    assert result.mean_diff == pytest.approx(float(np.mean(b - a)))
    assert 0.0 < result.low < result.mean_diff < result.high
    assert result.p_value == pytest.approx(1 / 1001)
    swapped = paired_bootstrap(b, a, n_resamples=1000, seed=5)
    assert swapped.high < 0.0


def test_bootstrap_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(6)
    a, b = rng.random(200), rng.random(200)
    assert paired_bootstrap(a, b, seed=9) == paired_bootstrap(a, b, seed=9)
    assert paired_bootstrap(a, b, seed=9) != paired_bootstrap(a, b, seed=10)


def test_bootstrap_refuses_unpaired_arrays() -> None:
    with pytest.raises(ValueError, match="same length"):
        paired_bootstrap(np.zeros(3), np.zeros(4))
