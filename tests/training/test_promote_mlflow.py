"""The promotion gate on a real registry: refuses worse, accepts better, rolls back by force."""

from __future__ import annotations

import json

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from recommender.config import DEFAULT_WEIGHTS
from recommender.synth import SynthData
from recsys_cli.main import app
from training.aliases import CHAMPION
from training.registry import list_versions, promote
from training.spec import TrainSpec
from training.train import train

WEIGHTS = dict(DEFAULT_WEIGHTS)
POP = TrainSpec(model="pop", weights=WEIGHTS, half_life_days=30.0)
ALS = TrainSpec(model="als", params={"factors": 16}, weights=WEIGHTS, half_life_days=30.0)


def _champion(name: str) -> str:
    return str(MlflowClient().get_model_version_by_alias(name, CHAMPION).version)


def _promote(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["promote", *args])
    return result.exit_code, result.stderr


@pytest.fixture(scope="module")
def versions(shop: SynthData, mlflow_store: str) -> tuple[str, dict[str, float]]:
    """Version 1 = popularity (worse), 2 = ALS (better), 3 = ALS on other data."""
    name = "promote-test-shop"
    ndcg = {}
    for spec in (POP, ALS):
        result = train(shop.events, spec, experiment="promote-tests", register=name)
        ndcg[str(result.version)] = result.test["ndcg@10"]
    other = shop.events.iloc[: len(shop.events) // 2]
    train(other, ALS, experiment="promote-tests", register=name)
    assert ndcg["2"] > ndcg["1"] + 0.005, "the test needs ALS clearly better than popularity"
    return name, ndcg


def test_the_gate_accepts_better_refuses_worse_and_force_rolls_back(
    versions: tuple[str, dict[str, float]],
) -> None:
    name, ndcg = versions
    assert _promote(name, "--version", "1", "--alias", CHAMPION) == (
        0, f"alias 'champion' of '{name}' moved to version 1: first promotion: no version holds "
           "the alias yet\npromoting is not deploying: serving keeps the version last "
           f"published; deploy this one with `recsys publish {name}@champion`\n")
    assert _champion(name) == "1"

    code, message = _promote(name, "--version", "2")
    assert code == 0 and "moved to version 2" in message
    assert _champion(name) == "2"

    code, message = _promote(name, "--version", "1")
    assert code == 1
    assert f"{ndcg['1']:.4f}" in message and "worse" in message and "NOT moved" in message
    assert _champion(name) == "2"

    code, message = _promote(name, "--version", "1", "--tolerance", "1")
    assert code == 0 and _champion(name) == "1"

    code, message = _promote(name, "--version", "2", "--json")
    assert code == 0 and _champion(name) == "2"

    code, message = _promote(name, "--version", "1", "--force")
    assert code == 0 and "forced" in message and _champion(name) == "1"


def test_a_version_trained_on_other_data_is_refused(
    versions: tuple[str, dict[str, float]],
) -> None:
    name, _ = versions
    promote(name, "2", CHAMPION, force=True)
    decision = promote(name, "3", CHAMPION)
    assert not decision.promoted and "different data" in decision.reason
    assert (decision.previous, _champion(name)) == ("2", "2")


def test_promote_json_reports_the_decision(versions: tuple[str, dict[str, float]]) -> None:
    name, _ = versions
    promote(name, "2", "canary", force=True)
    result = CliRunner().invoke(app, ["promote", name, "--version", "1", "--alias", "canary",
                                      "--json"])
    assert result.exit_code == 1
    decision = json.loads(result.stdout)
    assert decision == {"name": name, "alias": "canary", "version": "1", "promoted": False,
                        "previous": "2", "reason": decision["reason"], "published": None}


def test_unknown_versions_and_models_are_clear_errors(
    versions: tuple[str, dict[str, float]],
) -> None:
    name, _ = versions
    code, message = _promote(name, "--version", "99")
    assert code == 2 and f"model '{name}' has no version '99'; its versions: 1, 2, 3" in message
    result = CliRunner().invoke(app, ["models", "list", "no-such-model"])
    assert result.exit_code == 2 and "no registered model 'no-such-model'" in result.stderr


def test_models_list_shows_versions_aliases_and_metrics(
    versions: tuple[str, dict[str, float]], redis_url: str, prefix: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the test Redis: without a URL the command would start the embedded one under .recsys/
    monkeypatch.setenv("RECSYS_REDIS_URL", redis_url)
    monkeypatch.setenv("RECSYS_PREFIX", prefix)
    name, ndcg = versions
    promote(name, "2", CHAMPION, force=True)
    infos = list_versions(name)
    assert [info.version for info in infos] == ["3", "2", "1"]
    assert CHAMPION in infos[1].aliases
    assert infos[2].test["ndcg@10"] == pytest.approx(ndcg["1"])

    result = CliRunner().invoke(app, ["models", "list", name, "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert [row["version"] for row in rows] == ["3", "2", "1"]
    assert CHAMPION in rows[1]["aliases"] and rows[1]["test"]["ndcg@10"] == pytest.approx(ndcg["2"])

    table = CliRunner().invoke(app, ["models", "list", name])
    assert table.exit_code == 0
    assert "ndcg@10" in table.stdout and f"{ndcg['2']:.4f}" in table.stdout


def test_a_misspelt_model_name_is_blamed_not_the_version(
    versions: tuple[str, dict[str, float]],
) -> None:
    name, _ = versions
    code, message = _promote(name[:-1], "--version", "1")
    assert code == 2
    assert message.startswith(f"error: no registered model '{name[:-1]}' (did you mean '{name}'")
    assert "has no version" not in message
    code, message = _promote(name.upper(), "--version", "1")
    assert code == 2 and f"(did you mean '{name}'?)" in message
    assert [m.name for m in MlflowClient().search_registered_models()
            if m.name.lower() == name] == [name]


@pytest.fixture
def other_model(shop: SynthData, mlflow_store: str, model_name: str) -> str:
    train(shop.events, POP, experiment="promote-tests", register=model_name)
    return model_name


def test_models_list_with_no_name_lists_every_model_with_its_split(
    versions: tuple[str, dict[str, float]], other_model: str
) -> None:
    name, _ = versions
    result = CliRunner().invoke(app, ["models", "list", "--redis-url", "redis://127.0.0.1:1/0",
                                      "--json"])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["name"], r["version"]) for r in rows if r["name"] in (name, other_model)] == [
        (name, "3"), (name, "2"), (name, "1"), (other_model, "1")]
    assert {r["split"] for r in rows} == {POP.split_key}
    # Redis does not answer: a note, not a failure.
    assert result.stderr.startswith("note: what is published and live is unknown: Redis did not "
                                    "answer")
    table = CliRunner().invoke(app, ["models", "list", "--redis-url", "redis://127.0.0.1:1/0"])
    assert table.exit_code == 0, table.stderr
    assert name in table.stdout and other_model in table.stdout
    assert "stratified ratio=0.75 seed=42 users<=20000" in table.stdout


def test_promote_publish_deploys_and_models_list_shows_what_is_live(
    versions: tuple[str, dict[str, float]], redis_url: str, prefix: str
) -> None:
    name, _ = versions
    where = ["--redis-url", redis_url, "--prefix", prefix]
    promote(name, "1", CHAMPION, force=True)
    published = CliRunner().invoke(app, ["promote", name, "--version", "2", "--publish",
                                         "--json", *where])
    assert published.exit_code == 0, published.stderr
    decision = json.loads(published.stdout)
    assert decision["promoted"] and decision["published"].startswith(f"{name}:2:")
    assert "promoting is not deploying" not in published.stderr
    assert f"published {name} version 2 as {decision['published']}: live now" in published.stderr

    promote(name, "3", CHAMPION, force=True)  # moved, not deployed
    listed = CliRunner().invoke(app, ["models", "list", name, "--json", *where])
    assert listed.exit_code == 0, listed.stderr
    serving = {row["version"]: row["serving"] for row in json.loads(listed.stdout)}
    assert serving == {"3": None, "2": "live", "1": None}
    assert (f"note: {name}@champion is version 3 but version 2 is live; deploy it with "
            f"`recsys publish {name}@champion`") in listed.stderr
