"""Log a model bundle as an MLflow pyfunc model, register it, and load a version back.

A logged model needs the ``recsys`` package where it is loaded: its code file imports
``training.pyfunc_model``. Nothing in it is pickled.
"""

from __future__ import annotations

import tempfile
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient

from recommender.errors import ConfigError
from recommender.matrix import Interactions
from recommender.models.base import Recommender
from training.bundle import ModelBundle, write_bundle
from training.fingerprint import Fingerprint
from training.pyfunc_model import SIGNATURE, RecsysPyfunc
from training.spec import TrainSpec

MODEL_CODE = Path(__file__).with_name("model_code.py")
ARTIFACT_NAME = "model"
FINGERPRINT_TAG = "recsys.fingerprint"
SPLIT_TAG = "recsys.split"
MODEL_TAG = "recsys.model"
_REQUIREMENTS = ("mlflow", "implicit", "numpy", "scipy", "pandas", "pyarrow")


def metric_key(part: str, name: str) -> str:
    """MLflow key of a metric: ``("test", "ndcg@10") -> "test_ndcg_at_10"`` ('@' is not allowed)."""
    return f"{part}_{name.replace('@', '_at_')}"


def metrics_of(part: str, logged: dict[str, float]) -> dict[str, float]:
    """The ``part`` metrics among a run's logged metrics, under their own names (``ndcg@10``)."""
    prefix = f"{part}_"
    return {
        key.removeprefix(prefix).replace("_at_", "@"): value
        for key, value in sorted(logged.items())
        if key.startswith(prefix)
    }


def version_tags(spec: TrainSpec, fingerprint: Fingerprint) -> dict[str, str]:
    """Tags of a run and of its registered version: what the promotion gate compares."""
    return {
        FINGERPRINT_TAG: fingerprint.content_hash,
        SPLIT_TAG: spec.split_key,
        MODEL_TAG: spec.model,
    }


def log_bundle(bundle: ModelBundle, registered_name: str | None = None) -> str | None:
    """Log ``bundle`` as the model of the active run; register it if a name is given.

    Returns the registered version (a string such as ``"3"``) or ``None``.
    """
    with tempfile.TemporaryDirectory(prefix="recsys-model-") as folder, warnings.catch_warnings():
        # An input example would make MLflow load and run the model while logging it.
        warnings.filterwarnings("ignore", message=".*input example was not provided.*")
        info = mlflow.pyfunc.log_model(
            name=ARTIFACT_NAME,
            python_model=str(MODEL_CODE),
            artifacts=write_bundle(bundle, folder),
            signature=SIGNATURE,
            pip_requirements=_requirements(),
            registered_model_name=registered_name,
        )
    if registered_name is None:
        return None
    version = str(info.registered_model_version)
    client = MlflowClient()
    for key, value in version_tags(bundle.spec, bundle.fingerprint).items():
        client.set_model_version_tag(registered_name, version, key, value)
    return version


@dataclass(frozen=True)
class LoadedVersion:
    """A registered model version, loaded: the recommender and what ``publish`` needs with it.

    ``metrics`` are the test metrics logged with its run (``{"ndcg@10": ...}``); ``name`` and
    ``version`` are ``None`` when it was loaded from a run URI.
    """

    model: Recommender
    interactions: Interactions
    catalog: pd.DataFrame
    config: TrainSpec
    fingerprint: Fingerprint
    name: str | None
    version: str | None
    run_id: str | None
    metrics: dict[str, float]

    @property
    def bundle(self) -> ModelBundle:
        return ModelBundle(
            self.model, self.interactions, self.catalog, self.config, self.fingerprint
        )


def model_uri(ref: str) -> str:
    """``NAME@ALIAS``, ``NAME/VERSION`` -> ``models:/...``; ``models:/``, ``runs:/`` URIs as is."""
    if ":/" in ref:
        return ref
    name, at, alias = ref.partition("@")
    if at and name and alias:
        return f"models:/{name}@{alias}"
    name, slash, number = ref.rpartition("/")
    if slash and name and number.isdigit():
        return f"models:/{name}/{number}"
    raise ConfigError(
        f"model reference {ref!r}: expected NAME@ALIAS (e.g. products@champion), NAME/VERSION "
        "or a models:/ or runs:/ URI"
    )


def load_version(ref: str) -> LoadedVersion:
    """Load a model version by ``NAME@ALIAS``, ``NAME/VERSION`` or a ``models:/``/``runs:/`` URI."""
    uri = model_uri(ref)
    pyfunc = mlflow.pyfunc.load_model(uri)
    python_model = pyfunc.unwrap_python_model()
    if not isinstance(python_model, RecsysPyfunc):
        kind = type(python_model).__name__
        raise ConfigError(f"{ref}: not a recsys model (its pyfunc is {kind})")
    bundle = python_model.bundle
    name, version, run_id = _identify(uri, pyfunc.metadata.run_id)
    logged = MlflowClient().get_run(run_id).data.metrics if run_id else {}
    return LoadedVersion(
        model=bundle.model,
        interactions=bundle.interactions,
        catalog=bundle.catalog,
        config=bundle.spec,
        fingerprint=bundle.fingerprint,
        name=name,
        version=version,
        run_id=run_id,
        metrics=metrics_of("test", logged),
    )


def _identify(uri: str, run_id: str | None) -> tuple[str | None, str | None, str | None]:
    """Registered name, version and run of a URI (name and version ``None`` unless ``models:/``)."""
    if not uri.startswith("models:/"):
        return None, None, run_id
    ref = uri.removeprefix("models:/")
    client = MlflowClient()
    name, at, alias = ref.partition("@")
    if at:
        found = client.get_model_version_by_alias(name, alias)
    else:
        name, _, number = ref.rpartition("/")
        found = client.get_model_version(name, number)
    return found.name, str(found.version), found.run_id or run_id


def _requirements() -> list[str]:
    pins = []
    for package in _REQUIREMENTS:
        try:
            pins.append(f"{package}=={package_version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
