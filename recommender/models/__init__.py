"""The models: one contract (``Recommender``), five implementations, built by name.

========  ==========================  =====================================================
name      class                       what it is
========  ==========================  =====================================================
pop       PopularityRecommender       global or per-category popularity (the baseline)
als       ALSRecommender              implicit-feedback matrix factorization (implicit)
bpr       BPRRecommender              pairwise-ranking matrix factorization (implicit)
itemknn   ItemKNNRecommender          item-item neighbours, BM25/cosine/TF-IDF (implicit)
ease      EASERecommender             closed-form linear item-item model (Steck 2019)
========  ==========================  =====================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from recommender.errors import UnknownModelError
from recommender.models._params import Param, defaults
from recommender.models.base import IdsAndScores, Recommender, top_n
from recommender.models.ease import EASERecommender
from recommender.models.implicit_models import ALSRecommender, BPRRecommender, ItemKNNRecommender
from recommender.models.popularity import PopularityRecommender

__all__ = [
    "DEFAULT_PARAMS",
    "MODEL_NAMES",
    "ALSRecommender",
    "BPRRecommender",
    "EASERecommender",
    "IdsAndScores",
    "ItemKNNRecommender",
    "Param",
    "PopularityRecommender",
    "Recommender",
    "make_model",
    "top_n",
]

MODEL_NAMES: tuple[str, ...] = ("pop", "als", "bpr", "itemknn", "ease")

DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    PopularityRecommender.name: defaults(PopularityRecommender.PARAMS),
    ALSRecommender.name: defaults(ALSRecommender.PARAMS),
    BPRRecommender.name: defaults(BPRRecommender.PARAMS),
    ItemKNNRecommender.name: defaults(ItemKNNRecommender.PARAMS),
    EASERecommender.name: defaults(EASERecommender.PARAMS),
}


def make_model(name: str, params: Mapping[str, Any] | None = None) -> Recommender:
    """A new, unfitted model by name; ``params`` override its ``DEFAULT_PARAMS``.

    Raises ``UnknownModelError`` for an unknown name and ``ValueError`` for an unknown or bad
    parameter, both listing what is valid.
    """
    cls = Recommender.registry.get(name)
    if cls is None:
        raise UnknownModelError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    return cls(**dict(params or {}))
