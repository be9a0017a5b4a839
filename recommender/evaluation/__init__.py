"""Offline evaluation: train/test splits, ranking metrics @k, the model runner, paired bootstrap."""

from recommender.evaluation.bootstrap import BootstrapInterval, paired_bootstrap
from recommender.evaluation.dataset import EvalData, prepare
from recommender.evaluation.metrics import (
    PER_USER_METRICS,
    coverage,
    hits_at_k,
    per_user_metrics,
    ranking_metrics,
    summarize,
)
from recommender.evaluation.runner import (
    EvalResult,
    evaluate_model,
    evaluate_models,
    recommend_users,
)
from recommender.evaluation.splits import PROTOCOLS, Split, split_events

__all__ = [
    "PER_USER_METRICS",
    "PROTOCOLS",
    "BootstrapInterval",
    "EvalData",
    "EvalResult",
    "Split",
    "coverage",
    "evaluate_model",
    "evaluate_models",
    "hits_at_k",
    "paired_bootstrap",
    "per_user_metrics",
    "prepare",
    "ranking_metrics",
    "recommend_users",
    "split_events",
    "summarize",
]
