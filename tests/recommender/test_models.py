import numpy as np
import pytest
from implicit.cpu.als import AlternatingLeastSquares
from scipy import sparse

from recommender.errors import ModelFitError, UnknownModelError
from recommender.models import (
    DEFAULT_PARAMS,
    MODEL_NAMES,
    ALSRecommender,
    BPRRecommender,
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    Recommender,
    make_model,
)
from tests.recommender.model_mixin import (
    N_ITEMS,
    N_USERS,
    ModelContract,
    checkerboard,
    held_out_items,
)


# ---------------------------------------------------------------------- the contract, every model
class TestPopularityPerCategory(ModelContract):
    def make(self) -> Recommender:
        model = PopularityRecommender(per_category=True)
        model.set_item_categories(np.arange(N_ITEMS) % 2)
        return model


class TestALS(ModelContract):
    def make(self) -> Recommender:
        return ALSRecommender(factors=8, regularization=1.0)


class TestBPR(ModelContract):
    def make(self) -> Recommender:
        return BPRRecommender(factors=8, learning_rate=0.05, iterations=200)


class TestItemKNN(ModelContract):
    def make(self) -> Recommender:
        return ItemKNNRecommender()


class TestEASE(ModelContract):
    def make(self) -> Recommender:
        return EASERecommender(l2=1.0)


@pytest.mark.parametrize("similarity", ["cosine", "tfidf"])
@pytest.mark.parametrize("binary", [True, False])
def test_every_itemknn_similarity_finds_the_held_out_items(similarity: str, binary: bool) -> None:
    user_items = checkerboard()
    model = ItemKNNRecommender(similarity=similarity, binary=binary).fit(user_items)
    ids, _ = model.recommend(np.arange(N_USERS), user_items, N=3)
    for user in range(N_USERS):
        assert sorted(ids[user]) == sorted(held_out_items(user))


# ---------------------------------------------------------------------- popularity, known answers
POP_ITEMS = sparse.csr_matrix(
    np.array([[1, 9, 2], [1, 0, 2], [1, 0, 0]], dtype=np.float32)
)  # users per item 3, 1, 2; confidence per item 3, 9, 4


@pytest.mark.parametrize(
    ("by", "order", "scores"),
    [("users", [0, 2, 1], [1, 2 / 3, 1 / 3]), ("confidence", [1, 2, 0], [1, 4 / 9, 3 / 9])],
)
def test_popularity_counts_users_or_confidence(
    by: str, order: list[int], scores: list[float]
) -> None:
    model = PopularityRecommender(by=by).fit(POP_ITEMS)
    ids, got = model.recommend(0, sparse.csr_matrix((1, 3), dtype=np.float32), N=3)
    assert list(ids) == order
    np.testing.assert_allclose(got, scores, rtol=1e-6)


# Popularity by users: 3, 2, 2, 2. Categories: items 0 and 1 -> 0, item 2 -> 1, item 3 -> none.
CATEGORY_ITEMS = sparse.csr_matrix(
    np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]], np.float32)
)


@pytest.fixture
def per_category() -> PopularityRecommender:
    model = PopularityRecommender(per_category=True)
    model.set_item_categories(np.array([0, 0, 1, -1]))
    return model.fit(CATEGORY_ITEMS)


def test_per_category_popularity_weighs_each_category_by_the_users_share(
    per_category: PopularityRecommender,
) -> None:
    history = sparse.csr_matrix(np.array([[1, 0, 1, 0]], np.float32))  # half cat 0, half cat 1
    ids, scores = per_category.recommend(0, history, N=4, filter_already_liked_items=False)
    # shares within category: item 0 3/5, item 1 2/5, item 2 1; item 3 falls back below them
    assert list(ids) == [2, 0, 1, 3]
    np.testing.assert_allclose(scores, [0.5, 0.3, 0.2, 2 / 3 * 0.1], rtol=1e-6)


def test_per_category_popularity_falls_back_to_global_popularity(
    per_category: PopularityRecommender,
) -> None:
    only_uncategorized = sparse.csr_matrix(np.array([[0, 0, 0, 1]], np.float32))
    ids, scores = per_category.recommend(0, only_uncategorized, N=3)
    assert ids[0] == 0 and scores[0] == pytest.approx(1.0)
    only_category_1 = sparse.csr_matrix(np.array([[0, 0, 1, 0]], np.float32))
    ids, scores = per_category.recommend(0, only_category_1, N=3, filter_already_liked_items=False)
    assert list(ids[:2]) == [2, 0]
    np.testing.assert_allclose(scores, [1.0, 0.5, 1 / 3], rtol=1e-6)


def test_popular_similar_items_come_from_the_same_category_first(
    per_category: PopularityRecommender,
) -> None:
    assert list(per_category.similar_items(1, N=1)[0]) == [0]
    ids, _ = per_category.similar_items(0, N=3)
    assert ids[0] == 1
    ids, scores = per_category.similar_items(3, N=3)  # no category: global popularity
    assert ids[0] == 0 and scores[0] == pytest.approx(1.0)


def test_item_categories_must_match_the_items() -> None:
    model = PopularityRecommender().fit(POP_ITEMS)
    with pytest.raises(ValueError, match="3 items"):
        model.set_item_categories(np.array([0, 1]))
    with pytest.raises(ValueError, match="integer"):
        model.set_item_categories(np.array([0.5, 1.0, 2.0]))
    early = PopularityRecommender()
    early.set_item_categories(np.array([0, 1]))
    with pytest.raises(ValueError, match="2 item category codes for 3 items"):
        early.fit(POP_ITEMS)


# ---------------------------------------------------------------------- EASE and ALS, known answers
@pytest.mark.parametrize("binary", [True, False])
def test_ease_weights_are_the_closed_form(binary: bool) -> None:
    rng = np.random.default_rng(0)
    x = sparse.random(30, 12, density=0.3, random_state=rng, dtype=np.float32).tocsr()
    x.data = rng.integers(1, 5, size=x.nnz).astype(np.float32)
    dense = (x.toarray() > 0).astype(float) if binary else x.toarray().astype(float)
    inverse = np.linalg.inv(dense.T @ dense + 3.0 * np.eye(12))
    want = -inverse / np.diag(inverse)
    np.fill_diagonal(want, 0.0)
    model = EASERecommender(l2=3, binary=binary).fit(x)
    np.testing.assert_allclose(model.weights, want, rtol=1e-4, atol=1e-6)
    _, scores = model.recommend(np.arange(30), x, N=12, filter_already_liked_items=False)
    np.testing.assert_allclose(scores, -np.sort(-(dense @ want), axis=1), rtol=1e-4, atol=1e-5)


def test_ease_refuses_a_catalog_above_max_items() -> None:
    too_wide = sparse.csr_matrix((2, 30_000), dtype=np.float32)
    with pytest.raises(ModelFitError) as caught:
        EASERecommender().fit(too_wide)
    assert str(caught.value) == (
        "EASE needs a dense items x items matrix: 30,000 items > max_items=20,000; use als or "
        "itemknn, or raise ease.max_items (memory ~ n_items² x 8 bytes = 7.2 GB)"
    )


def test_als_fits_implicit_on_one_plus_alpha_times_confidence() -> None:
    user_items = checkerboard()
    model = ALSRecommender(factors=4, regularization=0.5, alpha=3.0, iterations=5).fit(user_items)
    direct = AlternatingLeastSquares(factors=4, regularization=0.5, iterations=5, random_state=42)
    confidence = user_items.copy()
    confidence.data = 1 + 3.0 * confidence.data
    direct.fit(confidence, show_progress=False)
    np.testing.assert_allclose(model.model.item_factors, direct.item_factors, rtol=1e-5)


# ---------------------------------------------------------------------- building models by name
def test_default_params_cover_every_model_and_are_what_make_model_uses() -> None:
    assert tuple(DEFAULT_PARAMS) == MODEL_NAMES
    for name in MODEL_NAMES:
        model = make_model(name)
        assert model.name == name and model.params == DEFAULT_PARAMS[name]
    assert DEFAULT_PARAMS["bpr"]["num_threads"] == 1  # multi-threaded BPR is not reproducible


def test_make_model_overrides_defaults_and_accepts_toml_numbers() -> None:
    model = make_model("ease", {"l2": 300, "max_items": 5000.0})
    assert model.params["l2"] == 300.0 and isinstance(model.params["l2"], float)
    assert model.params["max_items"] == 5000 and isinstance(model.params["max_items"], int)
    assert model.params["binary"] is DEFAULT_PARAMS["ease"]["binary"]


def test_an_unknown_model_name_lists_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as caught:
        make_model("svd")
    assert all(name in str(caught.value) for name in MODEL_NAMES)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("als", {"factors": 0}, r"als\.factors must be in \[1, inf\]"),
        ("als", {"factors": 2.5}, r"als\.factors must be a whole number"),
        ("bpr", {"learning_rate": "fast"}, r"bpr\.learning_rate must be a number"),
        ("itemknn", {"similarity": "jaccard"}, r"itemknn\.similarity must be one of .*'bm25'"),
        ("itemknn", {"B": 2}, r"itemknn\.B must be in \[0, 1\]"),
        ("ease", {"binary": 1}, r"ease\.binary must be true or false"),
        ("ease", {"l2": 0}, r"ease\.l2"),
        ("pop", {"by": "clicks"}, r"pop\.by must be one of \['users', 'confidence'\]"),
        ("als", {"factor": 8}, r"unknown parameter\(s\) \['factor'\] .* valid parameters: .*'fac"),
    ],
)
def test_bad_params_raise_value_error_naming_the_param(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        make_model(name, params)
