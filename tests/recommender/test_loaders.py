"""Loaders: each format gives the same canonical frame; bad rows are named, never dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recommender.data import load_catalog, load_events
from recommender.errors import DataError

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HEADER = "user_id,item_id,event,timestamp"
EVENTS = [
    {"user_id": "196", "item_id": "242", "event": "view", "timestamp": 1511568000},
    {"user_id": "u2", "item_id": "p7", "event": "purchase", "timestamp": 1511571600},
    {"user_id": "196", "item_id": "p7", "event": "cart", "timestamp": 1511575200},
]


def expected_events() -> pd.DataFrame:
    return pd.DataFrame({
        "user_id": pd.array(["196", "u2", "196"], dtype="str"),
        "item_id": pd.array(["242", "p7", "p7"], dtype="str"),
        "event": pd.array(["view", "purchase", "cart"], dtype="str"),
        "timestamp": pd.to_datetime([1511568000, 1511571600, 1511575200], unit="s", utc=True)
        .as_unit("ns"),
    })


def write(path: Path, rows: list[dict[str, object]]) -> Path:
    """``rows`` in the format of ``path``'s extension; in JSON, digit strings become numbers."""
    suffix = path.suffix
    if suffix == ".csv":
        lines = [",".join(rows[0])] + [",".join(str(v) for v in row.values()) for row in rows]
        path.write_text("\n".join(lines) + "\n")
    elif suffix in {".parquet", ".pq"}:
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        numeric = [{k: int(v) if isinstance(v, str) and v.isdigit() else v for k, v in row.items()}
                   for row in rows]
        path.write_text("\n".join(json.dumps(row) for row in numeric) + "\n")
    return path


def events_csv(tmp_path: Path, *lines: str, name: str = "events.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n")
    return path


def error_of(path: Path, loader=load_events) -> DataError:
    with pytest.raises(DataError) as caught:
        loader(path)
    return caught.value


# ------------------------------------------------------------------------------------ good files
@pytest.mark.parametrize("name", ["e.csv", "e.parquet", "e.pq", "e.jsonl", "e.ndjson", "e.json"])
def test_every_format_gives_the_same_frame(tmp_path: Path, name: str) -> None:
    result = load_events(write(tmp_path / name, EVENTS))
    pd.testing.assert_frame_equal(result.frame, expected_events())
    assert (result.rows_read, result.skipped, result.source) == (3, {}, str(tmp_path / name))


def test_epoch_seconds_and_iso_with_offset_are_the_same_instants(tmp_path: Path) -> None:
    path = events_csv(
        tmp_path,
        "u,i,view,2017-11-25T08:00:00+08:00",
        "u,i,view,2017-11-25T00:00:00Z",
        "u,i,view,2017-11-24 19:00:00-0500",
        "u,i,view,1511568000",
        "u,i,view,1511568000.0",
        "u,i,view,2017-11-25T08:00:00.250+08:00",
    )
    stamps = load_events(path).frame["timestamp"]
    instant = pd.Timestamp("2017-11-25T00:00:00Z")
    assert list(stamps[:5]) == [instant] * 5
    assert stamps[5] == instant + pd.Timedelta(milliseconds=250)
    assert str(stamps.dtype) == "datetime64[ns, UTC]"


def test_integer_and_iso_text_columns_take_their_fast_paths_alike(tmp_path: Path) -> None:
    epoch = load_events(events_csv(tmp_path, "u,i,view,1511568000", name="a.csv")).frame
    iso = load_events(events_csv(tmp_path, "u,i,view,2017-11-25T08:00:00+08:00", name="b.csv"))
    pd.testing.assert_frame_equal(epoch, iso.frame)


def test_numeric_ids_stay_text_as_written(tmp_path: Path) -> None:
    rows = [{"user_id": 196, "item_id": 242.0, "event": "view", "timestamp": 1}]
    frame = load_events(write(tmp_path / "e.parquet", rows)).frame
    assert (frame["user_id"][0], frame["item_id"][0]) == ("196", "242")


def test_json_lines_may_mix_numeric_and_text_ids(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"user_id": 196, "item_id": "a", "event": "view", "timestamp": 1}\n'
                    '{"user_id": "u2", "item_id": "b", "event": "view", "timestamp": 2}\n')
    assert list(load_events(path).frame["user_id"]) == ["196", "u2"]


def test_zoned_parquet_timestamps_are_converted_to_utc(tmp_path: Path) -> None:
    stamps = pa.array([pd.Timestamp("2017-11-25T08:00:00+08:00")],
                      type=pa.timestamp("s", tz="Asia/Shanghai"))
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"user_id": ["u"], "item_id": ["i"], "event": ["view"],
                             "timestamp": stamps}), path)
    assert load_events(path).frame["timestamp"][0] == pd.Timestamp("2017-11-25T00:00:00Z")


def test_optional_columns_are_kept_and_empty_text_is_null(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,event,timestamp,rec_id,rating,extra\n"
                    "u,i,view,1,r1,4,x\nu,j,view,2,,,y\n")
    frame = load_events(path).frame
    assert list(frame.columns) == ["user_id", "item_id", "event", "timestamp", "rec_id", "rating"]
    assert frame["rec_id"][0] == "r1" and pd.isna(frame["rec_id"][1])
    assert frame["rating"][0] == 4.0 and pd.isna(frame["rating"][1])


def test_a_configured_event_type_is_accepted(tmp_path: Path) -> None:
    path = events_csv(tmp_path, "u,i,like,1")
    assert list(load_events(path, event_types={"like"}).frame["event"]) == ["like"]
    assert "unknown event type 'like'" in str(error_of(path))


def test_a_directory_of_hive_partitions_is_read_without_the_partition_column(
        tmp_path: Path) -> None:
    for day, rows in (("2026-11-20", EVENTS[:2]), ("2026-11-21", EVENTS[2:])):
        (tmp_path / f"date={day}").mkdir()
        write(tmp_path / f"date={day}" / "part-0.parquet", rows)
    (tmp_path / "notes.txt").write_text("not data")
    result = load_events(tmp_path)
    pd.testing.assert_frame_equal(result.frame, expected_events())
    assert result.rows_read == 3


def test_a_bad_row_in_a_partition_names_that_file(tmp_path: Path) -> None:
    for day, event in (("2026-11-20", "view"), ("2026-11-21", "zap")):
        (tmp_path / f"date={day}").mkdir()
        write(tmp_path / f"date={day}" / "part-0.parquet",
              [{"user_id": "u", "item_id": "i", "event": "view", "timestamp": 1},
               {"user_id": "u", "item_id": "i", "event": event, "timestamp": 2}])
    message = str(error_of(tmp_path))
    assert "date=2026-11-21/part-0.parquet: row 2, column 'event'" in message
    assert "date=2026-11-20" not in message


# ------------------------------------------------------------------------------------- bad files
BAD_EVENTS = [
    ("empty user id", (",i,view,1",), 1, "user_id", "missing value"),
    ("empty item id", ("u,i,view,1", "u,,view,1"), 2, "item_id", "missing value"),
    ("bad timestamp", ("u,i,view,1", "u,i,view,1", "u,i,view,yesterday"), 3, "timestamp",
     "not a timestamp; expected ISO-8601 with an offset or epoch seconds (value 'yesterday')"),
    ("naive ISO timestamp", ("u,i,view,2017-11-25T08:00:00",), 1, "timestamp",
     "timestamp has no UTC offset (value '2017-11-25T08:00:00')"),
    ("impossible date", ("u,i,view,2017-02-30T08:00:00Z",), 1, "timestamp",
     "not a valid date or time"),
    ("milliseconds", ("u,i,view,1511568000000000",), 1, "timestamp", "out of range"),
    ("missing timestamp", ("u,i,view,",), 1, "timestamp", "missing value"),
    ("unknown event", ("u,i,view,1", "u,i,zap,1"), 2, "event",
     "unknown event type 'zap'; configure a weight for it"),
]


@pytest.mark.parametrize(("case", "lines", "row", "column", "reason"), BAD_EVENTS,
                         ids=[case[0] for case in BAD_EVENTS])
def test_a_bad_event_row_rejects_the_file_naming_file_row_column_and_reason(
        tmp_path: Path, case: str, lines: tuple[str, ...], row: int, column: str,
        reason: str) -> None:
    error = error_of(events_csv(tmp_path, *lines))
    assert f"events.csv: row {row}, column '{column}': " in str(error)
    assert reason in str(error)
    assert (error.total, error.problems[0].row, error.problems[0].column) == (1, row, column)


def test_a_missing_required_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,timestamp\nu,i,1\n")
    message = str(error_of(path))
    assert "e.csv: column 'event': required column is missing" in message


def test_a_bad_json_line_is_named_by_line_number(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"user_id": "u", "item_id": "i", "event": "view", "timestamp": 1}\n\n'
                    '{"user_id": "u", "item_id": \n'
                    '{"user_id": "u", "item_id": "i", "event": "zap", "timestamp": 1}\n')
    error = error_of(path)
    assert "e.jsonl: row 3: invalid JSON line" in str(error)
    assert "e.jsonl: row 4, column 'event': unknown event type 'zap'" in str(error)
    assert error.total == 2


def test_iso_timestamps_in_json_lines_keep_their_offsets(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    line = '{"user_id": "u", "item_id": "i", "event": "view", "timestamp": "%s"}\n'
    path.write_text(line % "2017-11-25T08:00:00+08:00" + line % "2017-11-25T08:00:00Z")
    assert list(load_events(path).frame["timestamp"]) == [
        pd.Timestamp("2017-11-25T00:00:00Z"), pd.Timestamp("2017-11-25T08:00:00Z")]
    path.write_text(line % "2017-11-25T08:00:00+08:00" + line % "2017-11-25T08:00:00")
    message = str(error_of(path))
    assert "e.jsonl: row 2, column 'timestamp': timestamp has no UTC offset" in message


def test_a_json_array_is_not_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps(EVENTS))
    assert ("e.json: row 1: invalid JSON line: expected one JSON object per line"
            in str(error_of(path)))


def test_rows_after_a_blank_json_line_keep_their_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "e.jsonl"
    path.write_text('{"user_id": "u", "item_id": "i", "event": "view", "timestamp": 1}\n  \n\n'
                    '{"user_id": "u", "item_id": "", "event": "view", "timestamp": 1}\n')
    assert "e.jsonl: row 4, column 'item_id': missing value" in str(error_of(path))


def test_a_malformed_csv_row_is_named_and_later_rows_keep_their_numbers(tmp_path: Path) -> None:
    path = events_csv(tmp_path, "u,i,view,1", "u,i,view,1,extra", "u,,view,1")
    error = error_of(path)
    assert "events.csv: row 2: malformed CSV row: expected 4 fields, got 5" in str(error)
    assert "events.csv: row 3, column 'item_id': missing value" in str(error)


def test_invalid_utf8_is_named_with_its_row(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_bytes(f"{HEADER}\nu,i,view,1\nu\xff,i,view,1\n".encode("latin-1"))
    assert "events.csv: row 2: not valid UTF-8" in str(error_of(path))


def test_a_naive_parquet_datetime_column_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    pq.write_table(pa.table({"user_id": ["u"], "item_id": ["i"], "event": ["view"],
                             "timestamp": pa.array([0], type=pa.timestamp("s"))}), path)
    assert "column 'timestamp': timestamps have no time zone" in str(error_of(path))


@pytest.mark.parametrize("name", ["events.txt", "events.xlsx", "events"])
def test_an_unknown_extension_names_the_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(HEADER)
    assert f"{name}: unsupported file type" in str(error_of(path))


def test_the_message_lists_the_first_ten_bad_rows_and_the_total(tmp_path: Path) -> None:
    error = error_of(events_csv(tmp_path, *[f"u{n},i,zap,1" for n in range(15)]))
    lines = str(error).splitlines()
    assert len(lines) == 11 and error.total == 15
    assert lines[9].startswith(f"{tmp_path / 'events.csv'}: row 10, ")
    assert lines[10] == "... and 5 more bad rows (use --skip-invalid to drop them)"


# ---------------------------------------------------------------------------------- skip_invalid
def test_skip_invalid_drops_bad_rows_and_counts_them_by_reason(tmp_path: Path) -> None:
    path = events_csv(tmp_path, "u1,i,view,1", ",i,zap,x", "u3,i,zap,1", "u4,i,boo,1",
                      "u5,i,zap,2017-11-25T08:00:00", "u6,i,view,1,extra", "u7,i,cart,2")
    result = load_events(path, skip_invalid=True)
    assert list(result.frame["user_id"]) == ["u1", "u7"]
    assert result.rows_read == 7
    assert result.skipped == {
        "user_id: missing value": 1,
        "event: unknown event type 'zap'; configure a weight for it": 2,
        "event: unknown event type 'boo'; configure a weight for it": 1,
        "malformed CSV row": 1,
    }
    assert result.rows_skipped == 5


def test_skip_invalid_still_rejects_a_file_without_a_required_column(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("user_id,item_id,event\nu,i,view\n")
    with pytest.raises(DataError, match="column 'timestamp'"):
        load_events(path, skip_invalid=True)


# ---------------------------------------------------------------------------------------- catalog
def test_a_catalog_loads_with_defaults_for_optional_columns(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,kind,category\n1,product,breakfast\n2,content,articles\n")
    frame = load_catalog(path).frame
    assert list(frame.columns) == ["item_id", "kind", "category", "title", "tags", "available",
                                   "created_at"]
    assert list(frame["item_id"]) == ["1", "2"]
    assert list(frame["available"]) == [True, True]
    assert list(frame["tags"]) == ["", ""]
    assert frame["created_at"].isna().all()
    assert str(frame["created_at"].dtype) == "datetime64[ns, UTC]"


@pytest.mark.parametrize("name", ["items.csv", "items.parquet", "items.jsonl"])
def test_catalog_values_parse_alike_in_every_format(tmp_path: Path, name: str) -> None:
    rows = [
        {"item_id": "p1", "kind": "product", "category": "breakfast", "title": "油条",
         "tags": "fried;hot", "available": "yes", "created_at": "2026-11-20T07:00:00+08:00"},
        {"item_id": "a1", "kind": "content", "category": "articles", "title": "",
         "tags": "", "available": "0", "created_at": ""},
        {"item_id": "p2", "kind": "product", "category": "drinks", "title": "豆浆",
         "tags": "", "available": "", "created_at": "1795129200"},
    ]
    frame = load_catalog(write(tmp_path / name, rows)).frame
    assert list(frame["available"]) == [True, False, True]
    assert list(frame["title"]) == ["油条", "", "豆浆"]
    assert frame["created_at"][0] == pd.Timestamp("2026-11-19T23:00:00Z")
    assert pd.isna(frame["created_at"][1])
    assert frame["created_at"][2] == pd.Timestamp("2026-11-19T23:00:00Z")


BAD_CATALOG = [
    ("bad kind", ("p1,product,a", "p2,service,a"), 2, "kind",
     "kind must be 'product' or 'content' (value 'service')"),
    ("duplicate item", ("p1,product,a", "p2,product,a", "p1,content,b"), 3, "item_id",
     "duplicate item_id; each item may appear once (value 'p1')"),
    ("empty category", ("p1,product,",), 1, "category", "missing value"),
    ("bad boolean", ("p1,product,a,maybe",), 1, "available", "not a boolean"),
]


@pytest.mark.parametrize(("case", "lines", "row", "column", "reason"), BAD_CATALOG,
                         ids=[case[0] for case in BAD_CATALOG])
def test_a_bad_catalog_row_rejects_the_file(tmp_path: Path, case: str, lines: tuple[str, ...],
                                            row: int, column: str, reason: str) -> None:
    path = tmp_path / "items.csv"
    header = "item_id,kind,category" + (",available" if case == "bad boolean" else "")
    path.write_text("\n".join([header, *lines]) + "\n")
    message = str(error_of(path, load_catalog))
    assert f"items.csv: row {row}, column '{column}': {reason}" in message


def test_skip_invalid_keeps_the_first_of_repeated_items(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,kind,category\np1,product,a\np1,content,b\np2,thing,c\n")
    result = load_catalog(path, skip_invalid=True)
    assert list(result.frame["category"]) == ["a"]
    assert result.skipped == {"item_id: duplicate item_id; each item may appear once": 1,
                              "kind: kind must be 'product' or 'content'": 1}


# -------------------------------------------------------------------------------------- real data
@pytest.mark.parametrize(("name", "events", "users", "items"), [
    ("ml-100k", 100_000, 943, 1_682),
    ("taobao-sample", 84_475, 815, 55_368),
])
def test_the_shared_real_data_sets_load_as_they_are(name: str, events: int, users: int,
                                                    items: int) -> None:
    folder = SHARED_DATA / name
    if not folder.exists():
        pytest.skip(f"shared data set {folder} is not here")
    loaded = load_events(folder / "events.csv")
    catalog = load_catalog(folder / "items.csv")
    assert (len(loaded.frame), loaded.skipped) == (events, {})
    assert loaded.frame["user_id"].nunique() == users
    assert len(catalog.frame) == items and catalog.frame["item_id"].is_unique
    assert set(loaded.frame["item_id"]) <= set(catalog.frame["item_id"])
    assert not loaded.frame["user_id"].str.contains(".", regex=False).any()


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
@pytest.mark.parametrize("column", ["user_id", "item_id"])
def test_a_control_character_in_an_id_is_a_bad_row(tmp_path: Path, suffix: str,
                                                   column: str) -> None:
    rows = [dict(row) for row in EVENTS]
    rows[1][column] = "p\u0085" if suffix == ".parquet" else "x\x01y"
    path = write(tmp_path / f"events{suffix}", rows)
    with pytest.raises(DataError) as caught:
        load_events(path)
    assert [(p.row, p.column) for p in caught.value.problems] == [(2, column)]
    assert "holds a control character" in str(caught.value)
    assert len(load_events(path, skip_invalid=True).frame) == 2


def test_a_catalog_item_id_with_a_nul_is_a_bad_row(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item_id,kind,category\np1,product,a\np\x002,product,a\n")
    with pytest.raises(DataError, match=r"items.csv: row 2, column 'item_id': holds a control"):
        load_catalog(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_binary_data_under_a_text_name_is_refused_in_one_line(tmp_path: Path,
                                                             suffix: str) -> None:
    path = tmp_path / f"events{suffix}"
    path.write_bytes(bytes(range(256)) * 8)
    with pytest.raises(DataError) as caught:
        load_events(path)
    assert str(caught.value).count("\n") == 0
    assert str(caught.value).startswith(f"{path}: binary data, not ")


def test_a_parquet_file_under_a_csv_name_says_so(tmp_path: Path) -> None:
    parquet = write(tmp_path / "events.parquet", EVENTS)
    misnamed = tmp_path / "events.csv"
    misnamed.write_bytes(parquet.read_bytes())
    with pytest.raises(DataError, match=r"this is a Parquet file, not CSV; name it \.parquet"):
        load_events(misnamed)
