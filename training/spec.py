"""What a training job does: the model, its parameters, the event weights, the evaluation split."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from recommender.config import RecsysConfig, parse_params
from recommender.errors import ConfigError


@dataclass(frozen=True)
class TrainSpec:
    """Everything that decides a trained model and its evaluation, stored with the model.

    ``params`` are the model's hyper-parameters as given (the model fills in its defaults).
    ``eval_users`` caps the users metrics are computed over (a seeded sample; 0 = all): scoring
    every item for every user costs more than a fit on large data, and 20,000 users put the
    standard error of a mean metric near 0.002.
    """

    model: str
    params: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, float] = field(default_factory=dict)
    half_life_days: float = 0.0
    protocol: str = "stratified"
    ratio: float = 0.75
    seed: int = 42
    k: int = 10
    eval_users: int = 20_000
    repeatable_categories: list[str] = field(default_factory=list)
    """Categories whose items a user who has them may get again (``rules``): with a catalog,
    such an item stays rankable and relevant in the evaluation (``prepare``)."""

    @property
    def split_key(self) -> str:
        """The evaluation, e.g. ``stratified ratio=0.75 seed=42 users<=20000``: equal keys and
        equal data give equal test users."""
        key = f"{self.protocol} ratio={self.ratio:g} seed={self.seed} users<={self.eval_users}"
        if self.repeatable_categories:
            key += f" repeatable={','.join(sorted(self.repeatable_categories))}"
        return key

    def with_params(self, params: Mapping[str, Any]) -> TrainSpec:
        return replace(self, params={**self.params, **params})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainSpec:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__ if name in data})

    def mlflow_params(self) -> dict[str, str]:
        """Flat string parameters for an MLflow run."""
        flat: dict[str, Any] = {
            "model": self.model,
            "half_life_days": self.half_life_days,
            "protocol": self.protocol,
            "ratio": self.ratio,
            "seed": self.seed,
            "k": self.k,
            "eval_users": self.eval_users,
        }
        flat.update({f"param.{name}": value for name, value in self.params.items()})
        flat.update({f"weight.{name}": value for name, value in self.weights.items()})
        return {name: str(value) for name, value in flat.items()}


def model_name(name: str) -> str:
    """The model ``name`` names, matched case-insensitively (``EASE`` -> ``ease``), checked
    before any job starts; ``UnknownModelError`` listing the models if there is none."""
    from recommender.models import MODEL_NAMES, make_model

    wanted = name.strip().lower()
    if wanted not in MODEL_NAMES:
        make_model(name)  # raises UnknownModelError, which lists the models
    return wanted


def model_params(model: str, pairs: list[str], config: RecsysConfig) -> dict[str, Any]:
    """``[models.<model>]`` of ``recsys.toml`` overridden by ``--param`` pairs.

    A pair may name the model (``als.factors=64``) or not (``factors=64``); a pair for another
    model is an error rather than silently ignored.
    """
    qualified = [pair if "." in pair.partition("=")[0] else f"{model}.{pair}" for pair in pairs]
    overrides = parse_params(qualified)
    others = sorted(set(overrides) - {model})
    if others:
        raise ConfigError(f"--param: parameters for {others} given, but --model is {model!r}")
    return {**config.models.params_for(model), **overrides.get(model, {})}
