"""``recsys report ops`` as a user runs it: files in, numbers, JSON and a chart out."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from recsys_cli.main import app

# Shanghai is UTC+8. Local days: 09-02 (rows 1-3), 09-03 (rows 4-6).
EVENTS = """user_id,item_id,event,timestamp
u1,p1,view,2024-09-01T23:30:00Z
u1,p1,purchase,2024-09-01T23:40:00Z
u2,p2,view,2024-09-02T04:00:00+00:00
u1,p2,view,2024-09-03T12:15:00+08:00
u2,p1,cart,2024-09-03T07:45:00+08:00
u3,p1,view,2024-09-03T08:00:00+08:00
"""
ITEMS = """item_id,kind,category,title
p1,product,breakfast,油条
p2,product,lunch,盒饭
"""


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    events, items = tmp_path / "events.csv", tmp_path / "items.csv"
    events.write_text(EVENTS, encoding="utf-8")
    items.write_text(ITEMS, encoding="utf-8")
    return events, items


def run(*args: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr; an unexpected exception's traceback is added to stderr,
    so that a failure says what went wrong."""
    result = CliRunner().invoke(app, ["report", "ops", *args])
    detail = ""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        detail = "".join(traceback.format_exception(result.exception))
    return result.exit_code, result.stdout, result.stderr + detail


def test_json_report_of_a_small_log(files: tuple[Path, Path]) -> None:
    events, items = files
    code, out, err = run("--events", str(events), "--items", str(items), "--json")
    assert code == 0, err
    payload = json.loads(out)
    # 09-02: u1 (07:30, 07:40), u2 (12:00); 09-03: u1, u2, u3 (u3 new)
    assert [(d["date"], d["active_users"], d["new_users"]) for d in payload["daily"]] == [
        ("2024-09-02", 2, 2), ("2024-09-03", 3, 1)]
    # cohort 09-02 {u1, u2}: both back on 09-03 -> d1 = 1.0; 09-03 {u3}: 09-04 not in the log
    assert payload["retention"]["overall"] == {"d1": 1.0, "d7": None}
    # views: u1 u2 u1 u3 (3 users, 4 events); cart: u2; purchase: u1 -> 1/3, then 1/1
    assert [(f["stage"], f["users"], f["events"]) for f in payload["funnel"]] == [
        ("view", 3, 4), ("cart", 1, 1), ("purchase", 1, 1)]
    # local hour 7: 1 view (u1 07:30), 1 purchase (07:40) -> 1.0; hour 8: 1 view, 0 purchases
    hours = {h["hour"]: h for h in payload["hourly"]}
    assert (hours[7]["views"], hours[7]["purchases"], hours[7]["conversion"]) == (1, 1, 1.0)
    assert (hours[8]["views"], hours[8]["conversion"]) == (1, 0.0)
    assert hours[23]["views"] == 0 and hours[23]["conversion"] is None
    # breakfast (06:30-09:30): p1 rows 1, 2, 5, 6 -> 1 purchase, 4 events
    assert payload["top_items"][0] == {"slot": "breakfast", "rank": 1, "item_id": "p1",
                                       "purchases": 1, "events": 4, "category": "breakfast",
                                       "title": "油条", "in_slot": True}


def test_table_output_and_chart(files: tuple[Path, Path], tmp_path: Path) -> None:
    events, _ = files
    chart = tmp_path / "charts" / "ops.png"
    code, out, err = run("--events", str(events), "--chart", str(chart))
    assert code == 0, err
    assert "6 events, 3 users, 2 items, 2024-09-02 .. 2024-09-03 (Asia/Shanghai)" in out
    assert "observable: d1 100.0%, d7 -" in out
    assert f"wrote {chart}" in err
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 10_000


def test_since_and_a_directory_of_parquet(files: tuple[Path, Path], tmp_path: Path) -> None:
    events, _ = files
    folder = tmp_path / "sink" / "date=2024-09-03"
    folder.mkdir(parents=True)
    frame = pd.read_csv(events)
    frame.to_parquet(folder / "part-0.parquet", index=False)
    code, out, err = run("--events", str(tmp_path / "sink"), "--since", "2024-09-03", "--json")
    assert code == 0, err
    payload = json.loads(out)
    assert payload["summary"]["events"] == 3 and payload["summary"]["since"] == "2024-09-03"
    assert [d["new_users"] for d in payload["daily"]] == [1]  # u1, u2 were seen on 09-02


def test_bad_since_and_an_empty_window_are_explained(files: tuple[Path, Path]) -> None:
    events, _ = files
    code, _, err = run("--events", str(events), "--since", "3 Sept")
    assert code == 2 and "expected YYYY-MM-DD, got '3 Sept'" in err
    code, _, err = run("--events", str(events), "--since", "2025-01-01")
    assert code == 2 and "no events to report on or after 2025-01-01" in err
