"""What `recsys publish` says when the model, alias or version it names does not exist."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from recommender.config import DEFAULT_WEIGHTS
from recommender.synth import SynthData
from recsys_cli.main import app
from training.spec import TrainSpec
from training.train import train

NOWHERE = ["--redis-url", "redis://127.0.0.1:1/0"]  # never reached: the lookup fails first


def _publish(ref: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["publish", ref, *NOWHERE])
    return result.exit_code, result.stderr


def test_publishing_before_anything_is_registered_says_how_to_register(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'empty.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    code, message = _publish("products@champion")
    assert code == 2
    assert message.splitlines()[-1] == (  # after MLflow's lines about creating its tables
        f"error: no registered model 'products': nothing is registered in the tracking store "
        f"{uri} yet; train and register one with `recsys train --events FILE --experiment NAME "
        "--register products`"
    )


@pytest.fixture(scope="module")
def registered(shop: SynthData, mlflow_store: str) -> str:
    name = "messages-shop"
    spec = TrainSpec(model="pop", weights=dict(DEFAULT_WEIGHTS))
    train(shop.events, spec, experiment="messages", register=name, alias="champion")
    return name


def test_a_misspelt_model_name_names_the_registered_ones(registered: str) -> None:
    code, message = _publish("messages-shp@champion")
    assert code == 2
    assert message.startswith(
        "error: no registered model 'messages-shp' (did you mean 'messages-shop'?); registered: "
    )
    assert "Registered Model with name" not in message
    code, message = _publish("Messages-Shop@champion")
    assert code == 2 and "(did you mean 'messages-shop'?)" in message


def test_a_missing_alias_names_the_aliases_and_the_command_that_sets_one(registered: str) -> None:
    assert _publish(f"{registered}@champoin") == (
        2,
        f"error: model {registered!r} has no alias 'champoin' (its aliases: champion -> version "
        f"1); point it at a version with `recsys promote {registered} --version N --alias "
        "champoin`\n",
    )


def test_a_missing_version_names_the_versions(registered: str) -> None:
    assert _publish(f"{registered}/9") == (
        2,
        f"error: model {registered!r} has no version '9'; its versions: 1 (see `recsys models "
        f"list {registered}`)\n",
    )
