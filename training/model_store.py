"""Log a model bundle as an MLflow pyfunc model, register it, and load a version back.

A logged model needs the ``recsys`` package where it is loaded: its code file imports
``training.pyfunc_model``. Nothing in it is pickled.
"""

from __future__ import annotations

import difflib
import tempfile
import warnings
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.entities.model_registry import ModelVersion, RegisteredModel
from mlflow.exceptions import MlflowException
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
REGISTER_COMMAND = "recsys train --events FILE --experiment NAME --register {name}"
"""The command that registers a model (what a message says when none is registered)."""
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
    """Load a model version by ``NAME@ALIAS``, ``NAME/VERSION`` or a ``models:/``/``runs:/`` URI.

    A registered name, alias or version that does not exist is a ``ConfigError`` naming what
    does, raised before anything is loaded.
    """
    uri = model_uri(ref)
    found = _resolve(uri)
    pyfunc = mlflow.pyfunc.load_model(f"models:/{found.name}/{found.version}" if found else uri)
    python_model = pyfunc.unwrap_python_model()
    if not isinstance(python_model, RecsysPyfunc):
        kind = type(python_model).__name__
        raise ConfigError(f"{ref}: not a recsys model (its pyfunc is {kind})")
    bundle = python_model.bundle
    run_id = (found.run_id if found else None) or pyfunc.metadata.run_id
    logged = MlflowClient().get_run(run_id).data.metrics if run_id else {}
    return LoadedVersion(
        model=bundle.model,
        interactions=bundle.interactions,
        catalog=bundle.catalog,
        config=bundle.spec,
        fingerprint=bundle.fingerprint,
        name=found.name if found else None,
        version=str(found.version) if found else None,
        run_id=run_id,
        metrics=metrics_of("test", logged),
    )


def _resolve(uri: str) -> ModelVersion | None:
    """The registered version a ``models:/`` URI names (``None`` for other URIs)."""
    if not uri.startswith("models:/"):
        return None
    ref = uri.removeprefix("models:/")
    client = MlflowClient()
    name, at, alias = ref.partition("@")
    if at:
        return version_by_alias(client, name, alias)
    name, _, number = ref.rpartition("/")
    return model_version(client, name, number)


def registered_model(client: MlflowClient, name: str) -> RegisteredModel:
    """The registered model ``name``; a ``ConfigError`` naming the registered ones if none."""
    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
    names = sorted(model.name for model in registered_models(client))
    train = f"`{REGISTER_COMMAND.format(name=name)}`"
    if not names:
        raise ConfigError(
            f"no registered model {name!r}: nothing is registered in the tracking store "
            f"{mlflow.get_tracking_uri()} yet; train and register one with {train}"
        ) from None
    lowered = {other.lower(): other for other in names}
    close = ([lowered[name.lower()]] if name.lower() in lowered else
             difflib.get_close_matches(name, names, n=3))
    guess = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    shown = ", ".join(names[:20]) + (f" and {len(names) - 20} more" if len(names) > 20 else "")
    raise ConfigError(
        f"no registered model {name!r}{guess}; registered: {shown} (see `recsys models list`); "
        f"train a new one with {train}"
    ) from None


def registered_models(client: MlflowClient) -> list[RegisteredModel]:
    """Every registered model of the store (its search returns pages of 100)."""
    found: list[RegisteredModel] = []
    token = None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        found.extend(page)
        token = page.token
        if not token:
            return found


def model_version(client: MlflowClient, name: str, version: str) -> ModelVersion:
    """Version ``version`` of registered model ``name``; a ``ConfigError`` naming the model's
    versions if it has no such version (and the registered models if there is no such model)."""
    registered_model(client, name)
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
    numbers = sorted(int(found.version) for found in client.search_model_versions(
        f"name = '{quoted(name)}'"))
    raise ConfigError(
        f"model {name!r} has no version {version!r}; its versions: "
        f"{', '.join(map(str, numbers)) or 'none'} (see `recsys models list {name}`)"
    ) from None


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion:
    """The version ``alias`` of registered model ``name`` points at; a ``ConfigError`` naming
    its aliases if it has no such alias."""
    aliases = registered_model(client, name).aliases
    if alias not in aliases:
        held = ", ".join(f"{a} -> version {v}" for a, v in sorted(aliases.items())) or "none"
        raise ConfigError(
            f"model {name!r} has no alias {alias!r} (its aliases: {held}); point it at a version "
            f"with `recsys promote {name} --version N --alias {alias}`"
        )
    return client.get_model_version(name, str(aliases[alias]))


def quoted(name: str) -> str:
    """``name`` for a single-quoted string of an MLflow search filter."""
    return name.replace("'", "\\'")


def _requirements() -> list[str]:
    pins = []
    for package in _REQUIREMENTS:
        try:
            pins.append(f"{package}=={package_version(package)}")
        except PackageNotFoundError:
            pins.append(package)
    return pins
