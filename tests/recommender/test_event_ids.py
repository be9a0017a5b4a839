"""A repeated ``event_id`` in offline events is a bad row: an error naming it, or dropped and
counted with ``skip_invalid``, whether the copies share a file or not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from recommender.data import load_events
from recommender.data.events import DUPLICATE_ID
from recommender.errors import DataError
from recsys_cli.main import app

HEADER = "user_id,item_id,event,timestamp,event_id\n"


def write(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def test_a_repeated_event_id_is_an_error_naming_the_row(tmp_path: Path) -> None:
    events = write(tmp_path / "events.csv", "u1,p1,view,0,e1", "u1,p2,view,1,", "u1,p1,view,0,e1",
                   "u2,p3,view,2,", "u2,p3,cart,3,e1")
    with pytest.raises(DataError) as caught:
        load_events(events)
    assert caught.value.total == 2
    assert [(p.row, p.column, p.reason, p.value) for p in caught.value.problems] == [
        (3, "event_id", DUPLICATE_ID, "e1"), (5, "event_id", DUPLICATE_ID, "e1")]
    assert f"{events}: row 3, column 'event_id': duplicate event_id" in str(caught.value)


def test_skip_invalid_keeps_the_first_and_counts_the_others(tmp_path: Path) -> None:
    events = write(tmp_path / "events.csv", "u1,p1,view,0,e1", "u1,p2,view,1,", "u1,p1,view,0,e1",
                   "u2,p3,view,2,", "u2,p3,like,3,e2", "u2,p3,cart,4,e2")
    loaded = load_events(events, skip_invalid=True)
    assert loaded.frame["timestamp"].dt.second.tolist() == [0, 1, 2, 4]  # empty ids are no ids
    assert loaded.skipped == {f"event_id: {DUPLICATE_ID}": 1,
                              "event: unknown event type 'like'; configure a weight for it": 1}


def test_a_copy_in_another_file_of_a_directory_counts_too(tmp_path: Path) -> None:
    frame = pd.DataFrame({"user_id": ["u1", "u2"], "item_id": ["p1", "p2"],
                          "event": ["view", "view"], "event_id": ["e1", "e2"],
                          "timestamp": pd.to_datetime([0, 1], unit="s", utc=True)})
    for name, rows in (("date=1970-01-01/part-1.parquet", frame),
                       ("date=1970-01-01/part-2.parquet", frame.iloc[1:])):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        rows.to_parquet(tmp_path / name)
    with pytest.raises(DataError) as caught:
        load_events(tmp_path)
    assert caught.value.source.endswith("part-2.parquet")
    assert [(p.row, p.value) for p in caught.value.problems] == [(1, "e2")]
    assert load_events(tmp_path, skip_invalid=True).frame["event_id"].tolist() == ["e1", "e2"]


def test_data_validate_reports_them(tmp_path: Path) -> None:
    events = write(tmp_path / "events.csv", "u1,p1,view,0,e1", "u1,p1,view,0,e1")
    strict = CliRunner().invoke(app, ["data", "validate", "--events", str(events)])
    assert strict.exit_code == 2
    assert f"{events}: row 2, column 'event_id': duplicate event_id" in strict.output
    lenient = CliRunner().invoke(app, ["data", "validate", "--events", str(events),
                                       "--skip-invalid"])
    assert lenient.exit_code == 0, lenient.output
    assert f"ok {events}: 1 of 2 rows valid" in lenient.output
    assert "1 event_id: duplicate event_id" in lenient.output
