"""`recsys evaluate` as a user runs it, on synthetic data written to disk."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from recommender.synth import synthesize, write_synth
from recsys_cli.main import app

METRICS = ("precision@5", "recall@5", "ndcg@5", "map@5", "hit_rate@5", "coverage@5")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("shop")
    return write_synth(synthesize(users=400, items=80, days=30, seed=7), folder)


def test_json_output_has_the_documented_shape_and_cf_beats_popularity(
    shop: tuple[Path, Path],
) -> None:
    events, items = shop
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "recsys_cli.main",
            "evaluate",
            "--events",
            str(events),
            "--items",
            str(items),
            "--protocol",
            "temporal",
            "--ratio",
            "0.8",
            "--k",
            "5",
            "--models",
            "pop,itemknn,ease",
            "--json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    payload = json.loads(result.stdout)
    assert list(payload) == ["protocol", "k", "models", "errors"]
    assert payload["errors"] == {}
    assert payload["protocol"] == "temporal" and payload["k"] == 5
    assert list(payload["models"]) == ["pop", "itemknn", "ease"]
    for metrics in payload["models"].values():
        assert tuple(metrics) == METRICS
        assert all(0.0 <= value <= 1.0 for value in metrics.values())
    models = payload["models"]
    assert models["ease"]["ndcg@5"] > 1.2 * models["pop"]["ndcg@5"]
    assert models["itemknn"]["hit_rate@5"] > models["pop"]["hit_rate@5"]


def test_the_table_names_every_model_and_the_split(shop: tuple[Path, Path]) -> None:
    events, _ = shop
    result = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--events",
            str(events),
            "--protocol",
            "leave-last",
            "--models",
            "pop,als",
            "--k",
            "5",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "leave-last split" in result.stdout
    assert "│ pop " in result.stdout and "│ als " in result.stdout


def test_an_unknown_model_is_refused_with_the_valid_names(shop: tuple[Path, Path]) -> None:
    events, _ = shop
    result = CliRunner().invoke(app, ["evaluate", "--events", str(events), "--models", "pop,svd"])
    assert result.exit_code == 2
    assert "unknown model(s) ['svd']" in result.output
    assert "pop, als, bpr, itemknn, ease" in result.output


def test_a_bad_row_names_the_file_row_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "events.csv"
    bad.write_text(
        "user_id,item_id,event,timestamp\nu1,p1,view,1700000000\nu2,p2,teleport,1700000001\n"
    )
    result = CliRunner().invoke(app, ["evaluate", "--events", str(bad), "--models", "pop"])
    assert result.exit_code == 2
    assert "events.csv: row 2, column 'event': unknown event type 'teleport'" in result.output


def _evaluate(events: Path, *args: str) -> Result:
    return CliRunner().invoke(app, ["evaluate", "--events", str(events), "--k", "5", *args])


def test_a_model_that_cannot_run_is_reported_and_the_others_still_are(
    shop: tuple[Path, Path],
) -> None:
    events, _ = shop
    args = ("--models", "pop,ease,itemknn", "--param", "ease.max_items=10")
    result = _evaluate(events, *args, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert list(payload["models"]) == ["pop", "itemknn"]
    assert list(payload["errors"]) == ["ease"]
    assert "max_items=10" in payload["errors"]["ease"]

    table = _evaluate(events, *args)
    assert table.exit_code == 0, table.output
    assert "│ pop " in table.stdout and "│ itemknn " in table.stdout
    assert "│ ease " not in table.stdout
    assert "error: ease has no results: EASE needs a dense items x items matrix" in table.stderr


def test_the_exit_code_is_1_only_when_no_model_was_scored(shop: tuple[Path, Path]) -> None:
    events, _ = shop
    result = _evaluate(events, "--models", "ease", "--param", "ease.max_items=10", "--json")
    assert result.exit_code == 1
    payload = json.loads(result.stdout)
    assert payload["models"] == {} and list(payload["errors"]) == ["ease"]


def test_a_misspelt_event_type_in_weights_is_an_error_naming_the_known_ones(
    shop: tuple[Path, Path],
) -> None:
    events, _ = shop
    result = _evaluate(events, "--models", "pop", "--weights", "view=1,purchse=8")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "error: --weights: unknown event type 'purchse'; known: view, click, favorite, cart, "
        "share, purchase"
    )


def test_model_names_are_matched_case_insensitively(shop: tuple[Path, Path]) -> None:
    events, _ = shop
    result = _evaluate(events, "--models", "POP", "--json")
    assert result.exit_code == 0, result.output
    assert list(json.loads(result.stdout)["models"]) == ["pop"]


def test_replay_scores_each_model_with_and_without_live_events_per_group(
    shop: tuple[Path, Path],
) -> None:
    events, items = shop
    result = CliRunner().invoke(app, [
        "evaluate", "--events", str(events), "--items", str(items), "--protocol", "replay",
        "--reveal", "3", "--cold-share", "0.3", "--k", "5", "--models", "pop,itemknn", "--json",
    ])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["protocol"] == "replay" and payload["reveal"] == 3
    assert payload["ratio"] == 0.8  # the replay's default cut
    assert set(payload["models"]) == {"pop", "pop+live", "itemknn", "itemknn+live"}
    users = payload["users"]
    assert users["all"] == users["cold"] + users["warm"] and users["cold"] > 0
    for scores in payload["models"].values():
        assert set(METRICS) <= set(scores)
        assert set(METRICS) <= set(scores["cold"]) and set(METRICS) <= set(scores["warm"])
    models = payload["models"]
    assert models["itemknn+live"]["cold"]["ndcg@5"] > models["pop"]["cold"]["ndcg@5"]


def test_replay_refuses_a_reveal_that_leaves_nothing_to_predict(shop: tuple[Path, Path]) -> None:
    events, _ = shop
    result = CliRunner().invoke(app, ["evaluate", "--events", str(events), "--protocol",
                                      "replay", "--reveal", "100", "--models", "pop"])
    assert result.exit_code == 2
    assert "--reveal" in result.output
