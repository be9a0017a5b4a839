"""``recsys data synth`` as a user runs it: in process, as the installed command, loaded back."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from recommender.data import load_catalog, load_events
from recommender.synth import synthesize
from recsys_cli.main import app

SIZE = ["--users", "120", "--items", "40", "--days", "10", "--seed", "9"]
RECSYS = Path(sys.executable).parent / "recsys"


def run_synth(out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["data", "synth", "--out", str(out), *SIZE, *extra])
    return result.exit_code, result.output


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_synth_writes_files_that_load_back_as_the_same_frames(tmp_path: Path, fmt: str) -> None:
    code, output = run_synth(tmp_path, "--format", fmt)
    assert code == 0, output

    expected = synthesize(users=120, items=40, days=10, seed=9)
    events = load_events(tmp_path / f"events.{fmt}").frame
    catalog = load_catalog(tmp_path / f"items.{fmt}").frame
    pd.testing.assert_frame_equal(events, expected.events)
    pd.testing.assert_frame_equal(catalog, expected.catalog)

    assert f"wrote {tmp_path / f'events.{fmt}'} and {tmp_path / f'items.{fmt}'}" in output
    users = events["user_id"].nunique()
    assert f"events: {len(events):,} rows, {users:,} users" in output
    assert "dates: 2024-09-02 .. 2024-09-1" in output
    purchases = int((events["event"] == "purchase").sum())
    assert f"purchase {purchases:,} (" in output
    assert "catalog: 40 items" in output


def test_synth_csv_has_shanghai_offsets_and_no_index(tmp_path: Path) -> None:
    code, output = run_synth(tmp_path)
    assert code == 0, output
    lines = (tmp_path / "events.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].replace('"', "") == "user_id,item_id,event,timestamp,rec_id,event_id"
    *_, timestamp, rec_id, event_id = lines[1].split(",")
    assert timestamp.endswith("+08:00") and rec_id == "" and event_id == "e00000001"
    assert "油条" in (tmp_path / "items.csv").read_text(encoding="utf-8")


@pytest.mark.skipif(not RECSYS.exists(), reason=f"console script {RECSYS} not installed")
def test_installed_command_writes_the_same_bytes_as_the_app(tmp_path: Path) -> None:
    code, output = run_synth(tmp_path / "in-process")
    assert code == 0, output
    out = tmp_path / "command"
    done = subprocess.run(
        [str(RECSYS), "data", "synth", "--out", str(out), *SIZE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stdout
    assert "generating" in done.stderr
    for name in ("events.csv", "items.csv"):
        assert (out / name).read_bytes() == (tmp_path / "in-process" / name).read_bytes()


def test_unknown_format_is_refused_with_the_choices(tmp_path: Path) -> None:
    code, output = run_synth(tmp_path, "--format", "xml")
    assert code == 2
    assert "csv" in output and "parquet" in output
    assert not (tmp_path / "events.xml").exists()


def test_too_few_items_is_refused(tmp_path: Path) -> None:
    code, output = run_synth(tmp_path, "--items", "3")
    assert code == 2
    assert "--items" in output


def test_validate_accepts_synthetic_files_and_describes_them(tmp_path: Path) -> None:
    assert run_synth(tmp_path, "--format", "parquet")[0] == 0
    events, items = tmp_path / "events.parquet", tmp_path / "items.parquet"
    result = CliRunner().invoke(
        app, ["data", "validate", "--events", str(events), "--items", str(items)]
    )
    assert result.exit_code == 0, result.output
    rows = len(synthesize(users=120, items=40, days=10, seed=9).events)
    assert f"ok {events}: {rows:,} of {rows:,} rows valid" in result.output
    assert "0 events on items not in the catalog" in result.output


def test_validate_names_file_row_column_and_reason_of_bad_rows(tmp_path: Path) -> None:
    bad = tmp_path / "events.csv"
    bad.write_text(
        "user_id,item_id,event,timestamp\n"
        "u1,p1,view,2024-09-02T07:30:00+08:00\n"
        "u1,p2,buy,2024-09-02T07:31:00+08:00\n",
        encoding="utf-8",
    )
    strict = CliRunner().invoke(app, ["data", "validate", "--events", str(bad)])
    assert strict.exit_code == 2
    assert f"{bad}: row 2, column 'event': unknown event type 'buy'" in strict.output

    lenient = CliRunner().invoke(app, ["data", "validate", "--events", str(bad), "--skip-invalid"])
    assert lenient.exit_code == 0, lenient.output
    assert f"ok {bad}: 1 of 2 rows valid" in lenient.output
