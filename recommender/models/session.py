"""Whose similar items start a user's session ranking (``recommender.realtime``).

Item-KNN's and EASE's similar items are item-to-item co-occurrence, what a session needs: "who
looked at this also looked at that". A factor model's (ALS, BPR) are cosines of its item factors,
and popularity's are popular items; the replay measured item-KNN's co-occurrence lists doing
better for them (``benchmarks/RESULTS.md``, ``## replay``: ml-100k known users, ALS 0.1737 ->
0.1960 and BPR 0.1357 -> 0.1794 nDCG@10; new users with BPR 0.29 -> 0.44). So for those models
publish writes a second set of per-item lists from an item-KNN fitted on the same matrix, and
the replay uses the same one.
"""

from __future__ import annotations

from scipy import sparse

from recommender.models.base import Recommender
from recommender.models.implicit_models import ItemKNNRecommender


def session_model(model: Recommender, user_items: sparse.csr_matrix) -> Recommender | None:
    """``None`` when ``model``'s own similar items serve the session ranking, else an item-KNN
    (default parameters) fitted on ``user_items``, the matrix ``model`` was fitted on."""
    if model.cooccurrence_similar:
        return None
    return ItemKNNRecommender().fit(user_items)
