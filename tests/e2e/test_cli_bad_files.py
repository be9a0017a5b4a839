"""Bad offline files as a user meets them: a binary file given as events or items is one clear
line naming the file (no traceback) from each command that reads them; a control character in
an id is a bad row, named by file, row and column."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from recsys_cli.main import app

EVENTS = ("user_id,item_id,event,timestamp\n"
          + "".join(f"u{i % 7},p{i % 5},view,{1_700_000_000 + 60 * i}\n" for i in range(60)))
ITEMS = "item_id,kind,category\n" + "".join(f"p{i},product,c{i % 2}\n" for i in range(5))
COMMANDS = {
    "validate": ["data", "validate"],
    "train": ["train", "--experiment", "bad-files", "--model", "pop"],
    "evaluate": ["evaluate", "--models", "pop"],
}


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Good events and items, and binary data under a CSV and a JSON Lines name."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    garbage = random.Random(7).randbytes(4096)
    out = {"events": tmp_path / "events.csv", "items": tmp_path / "items.csv",
           "binary.csv": tmp_path / "binary.csv", "binary.jsonl": tmp_path / "binary.jsonl"}
    out["events"].write_text(EVENTS)
    out["items"].write_text(ITEMS)
    out["binary.csv"].write_bytes(garbage)
    out["binary.jsonl"].write_bytes(garbage)
    return out


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize(("role", "binary"), [("events", "binary.csv"),
                                              ("items", "binary.jsonl")])
def test_a_binary_file_is_one_line_naming_it(files: dict[str, Path], command: str, role: str,
                                             binary: str) -> None:
    paths = {"events": files["events"], "items": files["items"], role: files[binary]}
    result = CliRunner().invoke(app, [*COMMANDS[command], "--events", str(paths["events"]),
                                      "--items", str(paths["items"])])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    kind = "CSV" if binary.endswith(".csv") else "JSON Lines"
    assert errors == [f"error: {files[binary]}: binary data, not {kind} text; give a {kind} "
                      "file saved as UTF-8 text"]


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_nul_in_an_id_is_a_bad_row_naming_file_row_and_column(
        files: dict[str, Path], command: str) -> None:
    files["events"].write_text(EVENTS.replace("u3,p3,view", "u\x003,p3,view", 1))
    result = CliRunner().invoke(app, [*COMMANDS[command], "--events", str(files["events"])])
    assert result.exit_code == 2, result.output
    assert (f"error: {files['events']}: row 4, column 'user_id': holds a control character (NUL, "
            "tab, line break, ...); ids must be printable text (value 'u\\x003')"
            ) in result.output
