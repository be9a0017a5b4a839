"""The contract every model must keep, checked on a checkerboard whose right answer is known.

Users ``0..19`` like the even items, users ``20..39`` the odd ones; each user has three of their
items held out. A model that learned anything ranks exactly those three first, and finds only
items of the same parity similar to an item.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from recommender.errors import NotFittedError
from recommender.models import Recommender
from recommender.models import base as base_module

N_USERS = 40
N_ITEMS = 40
HELD_OUT = 3


def held_out_items(user: int) -> np.ndarray:
    """The items of the user's parity that the user did not interact with."""
    slots = (3 * user + np.arange(HELD_OUT)) % (N_ITEMS // 2)
    return 2 * slots + (user >= N_USERS // 2)


def checkerboard() -> sparse.csr_matrix:
    """Confidence 1..3 on every liked (same-parity, not held-out) pair."""
    users, items = np.meshgrid(np.arange(N_USERS), np.arange(N_ITEMS), indexing="ij")
    liked = items % 2 == (users >= N_USERS // 2)
    held_out = np.array([held_out_items(user) for user in range(N_USERS)])
    liked[np.arange(N_USERS)[:, None], held_out] = False
    values = np.where(liked, 1.0 + (users + items) % 3, 0.0)
    return sparse.csr_matrix(values, dtype=np.float32)


def parity(ids: np.ndarray) -> np.ndarray:
    return np.asarray(ids) % 2


class ModelContract:
    """Subclass with ``make`` returning a fresh, unfitted model; every test here then runs on it."""

    def make(self) -> Recommender:
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def user_items(cls) -> sparse.csr_matrix:
        return checkerboard()

    @pytest.fixture(scope="class")
    @classmethod
    def model(cls, user_items: sparse.csr_matrix) -> Recommender:
        return cls().make().fit(user_items)

    # ------------------------------------------------------------------ the right answer
    def test_recommends_exactly_the_held_out_items_of_the_users_parity(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        ids, scores = model.recommend(np.arange(N_USERS), user_items, N=HELD_OUT)
        for user in range(N_USERS):
            assert sorted(ids[user]) == sorted(held_out_items(user)), f"user {user}"
        assert np.all(np.diff(scores, axis=1) <= 0)

    def test_similar_items_share_the_items_parity(self, model: Recommender) -> None:
        items = np.arange(N_ITEMS)
        ids, _ = model.similar_items(items, N=5)
        assert np.all(parity(ids) == parity(items)[:, None])
        assert not np.any(ids == items[:, None])

    def test_fit_returns_the_model_and_sets_n_items(self, model: Recommender) -> None:
        assert model.fitted and model.n_items == N_ITEMS

    def test_fitting_twice_gives_the_same_recommendations(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        again = self.make().fit(user_items)
        users = np.arange(N_USERS)
        np.testing.assert_array_equal(
            again.recommend(users, user_items, N=10)[1], model.recommend(users, user_items, N=10)[1]
        )

    # ------------------------------------------------------------------ shapes and equivalences
    def test_a_scalar_id_gives_1d_arrays_and_an_array_gives_2d(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        ids, scores = model.recommend(3, user_items[3], N=4)
        assert ids.shape == scores.shape == (4,)
        ids, scores = model.recommend(np.array([3, 25]), user_items[[3, 25]], N=4)
        assert ids.shape == scores.shape == (2, 4)
        assert model.similar_items(5, N=4)[0].shape == (4,)
        assert model.similar_items(np.array([5, 6]), N=4)[0].shape == (2, 4)

    def test_a_batch_equals_single_calls_across_batches(
        self, model: Recommender, user_items: sparse.csr_matrix, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(base_module, "_BATCH_CELLS", 3 * N_ITEMS)  # several batches
        users = np.arange(N_USERS)
        batch_ids, batch_scores = model.recommend(users, user_items, N=7)
        items = np.arange(N_ITEMS)
        similar_ids, similar_scores = model.similar_items(items, N=7)
        for user in users:
            ids, scores = model.recommend(int(user), user_items[user], N=7)
            np.testing.assert_array_equal(ids, batch_ids[user])
            np.testing.assert_allclose(scores, batch_scores[user], rtol=1e-5)
        for item in items:
            ids, scores = model.similar_items(int(item), N=7)
            np.testing.assert_array_equal(ids, similar_ids[item])
            np.testing.assert_allclose(scores, similar_scores[item], rtol=1e-5)

    def test_native_ranking_keeps_the_base_semantics(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        users = np.arange(N_USERS)
        subset = np.array([0, 1, 2, 3, 30, 31])
        for kwargs in ({}, {"items": subset}, {"filter_already_liked_items": False}):
            ids, scores = model.recommend(users, user_items, N=N_ITEMS, **kwargs)
            want_ids, want_scores = Recommender.recommend(
                model, users, user_items, N=N_ITEMS, **kwargs
            )
            np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-5)
            np.testing.assert_array_equal(ids == -1, want_ids == -1)
        few = subset[:4]
        ids, scores = model.similar_items(subset, N=N_ITEMS, items=few)
        want_ids, want_scores = Recommender.similar_items(model, subset, N=N_ITEMS, items=few)
        np.testing.assert_allclose(scores, want_scores, rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(ids == -1, want_ids == -1)

    # ------------------------------------------------------------------ options
    def test_items_restricts_the_candidates(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        user = 4
        subset = np.array([held_out_items(user)[0], 1, 3, 5, 7])
        ids, scores = model.recommend(user, user_items[user], N=3, items=subset)
        assert set(ids) <= set(subset)
        assert ids[0] == held_out_items(user)[0]
        full_ids, full_scores = model.recommend(user, user_items[user], N=N_ITEMS)
        by_id = dict(zip(full_ids, full_scores, strict=True))
        np.testing.assert_allclose(scores, [by_id[i] for i in ids], rtol=1e-5)

    def test_filter_already_liked_items(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        user = 7
        liked = set(user_items[user].indices)
        kept, _ = model.recommend(user, user_items[user], N=10)
        assert not liked & set(kept)
        unfiltered, _ = model.recommend(
            user, user_items[user], N=10, filter_already_liked_items=False
        )
        assert liked & set(unfiltered)

    def test_rows_with_too_few_candidates_are_padded(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        user = 21
        n_unseen = N_ITEMS - user_items[user].nnz
        ids, scores = model.recommend(user, user_items[user], N=N_ITEMS + 5)
        assert len(set(ids[:n_unseen])) == n_unseen and np.all(ids[:n_unseen] >= 0)
        assert np.all(ids[n_unseen:] == -1) and np.all(scores[n_unseen:] == -np.inf)
        ids, scores = model.recommend(user, user_items[user], N=5, items=np.array([1, 3]))
        assert list(ids[2:]) == [-1, -1, -1] and np.all(scores[2:] == -np.inf)
        ids, scores = model.similar_items(0, N=N_ITEMS + 1)
        assert 0 not in ids[: N_ITEMS - 1] and np.all(ids[: N_ITEMS - 1] >= 0)
        assert list(ids[N_ITEMS - 1 :]) == [-1, -1] and np.all(scores[N_ITEMS - 1 :] == -np.inf)

    # ------------------------------------------------------------------ lifecycle
    def test_save_and_load_give_identical_recommendations(
        self, model: Recommender, user_items: sparse.csr_matrix, tmp_path: Path
    ) -> None:
        path = model.save(tmp_path / "model")
        loaded = Recommender.load(path)
        assert type(loaded) is type(model) and loaded.params == model.params
        users, items = np.arange(N_USERS), np.arange(N_ITEMS)
        for got, want in zip(
            loaded.recommend(users, user_items, N=10), model.recommend(users, user_items, N=10),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)
        for got, want in zip(
            loaded.similar_items(items, N=10), model.similar_items(items, N=10), strict=True
        ):
            np.testing.assert_array_equal(got, want)

    def test_an_unfitted_model_raises_not_fitted(self, user_items: sparse.csr_matrix) -> None:
        model = self.make()
        with pytest.raises(NotFittedError, match="fit"):
            model.recommend(0, user_items[0])
        with pytest.raises(NotFittedError):
            model.similar_items(0)
        with pytest.raises(NotFittedError):
            model.save("never.npz")

    def test_user_items_must_have_one_row_per_user(
        self, model: Recommender, user_items: sparse.csr_matrix
    ) -> None:
        with pytest.raises(ValueError, match="rows"):
            model.recommend(np.array([0, 1]), user_items)
