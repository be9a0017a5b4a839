"""The data fingerprint: known counts and range, a hash blind to order, dtype and time unit."""

from __future__ import annotations

import pandas as pd
import pytest

from training.fingerprint import Fingerprint, fingerprint


def _events() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u3"],
            "item_id": ["a", "b", "a", "c"],
            "event": ["view", "purchase", "view", "cart"],
            "timestamp": pd.to_datetime(
                ["2024-01-01T08:00:00Z", "2024-01-02T08:00:00Z", "2024-01-03T00:00:00Z",
                 "2024-01-05T12:30:00Z"], utc=True
            ),
        }
    )


def test_fingerprint_counts_rows_users_items_and_time_range() -> None:
    found = fingerprint(_events())
    assert (found.rows, found.users, found.items) == (4, 3, 3)
    assert found.start == "2024-01-01T08:00:00+00:00"
    assert found.end == "2024-01-05T12:30:00+00:00"
    assert len(found.content_hash) == 64


def test_the_hash_ignores_row_order_string_dtype_time_unit_and_extra_columns() -> None:
    events = _events()
    other = events.iloc[::-1].reset_index(drop=True)
    other["user_id"] = other["user_id"].astype("string[pyarrow]")
    other["timestamp"] = other["timestamp"].dt.as_unit("s")
    other["rec_id"] = "r1"
    assert fingerprint(other) == fingerprint(events)


@pytest.mark.parametrize(
    ("column", "value"),
    [("user_id", "u9"), ("item_id", "z"), ("event", "favorite"),
     ("timestamp", pd.Timestamp("2024-01-01T08:00:01Z"))],
)
def test_changing_any_hashed_value_changes_the_hash(column: str, value: object) -> None:
    events = _events()
    changed = events.copy()
    changed.loc[0, column] = value
    assert fingerprint(changed).content_hash != fingerprint(events).content_hash


def test_a_duplicated_row_changes_the_hash() -> None:
    events = _events()
    doubled = pd.concat([events, events.iloc[[0]]], ignore_index=True)
    assert fingerprint(doubled).content_hash != fingerprint(events).content_hash


def test_fingerprint_round_trips_through_a_dict() -> None:
    found = fingerprint(_events())
    assert Fingerprint.from_dict(found.to_dict()) == found


def test_empty_events_have_a_fingerprint_without_time_range() -> None:
    found = fingerprint(_events().iloc[:0])
    assert (found.rows, found.users, found.items, found.start, found.end) == (0, 0, 0, "", "")


def test_a_fingerprint_from_encoded_events_is_the_same() -> None:
    from recommender.matrix import EncodedEvents

    events = _events()
    assert fingerprint(events, EncodedEvents.from_frame(events)) == fingerprint(events)
