"""Fixtures of the training tests: small synthetic shop data and a real MLflow store.

``mlflow_store`` is a SQLite tracking store in a temporary folder, shared by the tests of one
module (creating its tables takes seconds); tests keep apart by registering unique model names.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest

from recommender.synth import SynthData, synthesize
from training.tracking import configure_tracking


@pytest.fixture(scope="session")
def shop() -> SynthData:
    """About 10k events of 200 users on 60 items over 20 days."""
    return synthesize(users=200, items=60, days=20)


@pytest.fixture(scope="session")
def shop_files(shop: SynthData, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``shop`` written as events.parquet and items.parquet."""
    folder = tmp_path_factory.mktemp("shop")
    events, items = folder / "events.parquet", folder / "items.parquet"
    shop.events.to_parquet(events, index=False)
    shop.catalog.to_parquet(items, index=False)
    return events, items


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh SQLite tracking store; ``MLFLOW_TRACKING_URI`` points at it."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        assert configure_tracking() == uri
        yield uri
    mlflow.set_tracking_uri("")


@pytest.fixture
def model_name() -> str:
    """A registered model name no other test uses."""
    return f"test-{uuid.uuid4().hex[:10]}"
