"""The operating report on a 10-event log computed by hand (Asia/Shanghai = UTC+8).

====  ====  =====  ========  ====================  =====================  =========
row   user  item   event     UTC                   local (Shanghai)       slot
====  ====  =====  ========  ====================  =====================  =========
1     u1    i1     view      09-01 23:30           09-02 07:30            breakfast
2     u1    i1     cart      09-02 00:00           09-02 08:00            breakfast
3     u1    i1     purchase  09-02 00:10           09-02 08:10            breakfast
4     u2    i2     view      09-02 04:00           09-02 12:00            lunch
5     u2    i1     view      09-03 00:00           09-03 08:00            breakfast
6     u1    i2     view      09-03 04:30           09-03 12:30            lunch
7     u3    i1     view      09-03 10:00           09-03 18:00            dinner
8     u3    i1     purchase  09-03 10:20           09-03 18:20            dinner
9     u3    i3     view      09-09 01:00           09-09 09:00            breakfast
10    u2    i2     purchase  09-09 04:10           09-09 12:10            lunch
====  ====  =====  ========  ====================  =====================  =========
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from recommender.config import RulesConfig
from recommender.errors import ConfigError
from recommender.ops_report import OpsReport, build_ops_report

ROWS = [
    ("u1", "i1", "view", "2024-09-01T23:30:00Z"),
    ("u1", "i1", "cart", "2024-09-02T00:00:00Z"),
    ("u1", "i1", "purchase", "2024-09-02T00:10:00Z"),
    ("u2", "i2", "view", "2024-09-02T04:00:00Z"),
    ("u2", "i1", "view", "2024-09-03T00:00:00Z"),
    ("u1", "i2", "view", "2024-09-03T04:30:00Z"),
    ("u3", "i1", "view", "2024-09-03T10:00:00Z"),
    ("u3", "i1", "purchase", "2024-09-03T10:20:00Z"),
    ("u3", "i3", "view", "2024-09-09T01:00:00Z"),
    ("u2", "i2", "purchase", "2024-09-09T04:10:00Z"),
]
CATALOG = pd.DataFrame({
    "item_id": ["i1", "i2", "i3"],
    "kind": "product",
    "category": ["breakfast", "lunch", "drinks"],
    "title": ["油条", "盒饭", "豆浆"],
    "tags": "",
    "available": True,
})


@pytest.fixture
def events() -> pd.DataFrame:
    frame = pd.DataFrame(ROWS, columns=["user_id", "item_id", "event", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


@pytest.fixture
def report(events: pd.DataFrame) -> OpsReport:
    return build_ops_report(events, RulesConfig(), CATALOG)


def days(*values: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(value) for value in values]


def test_daily_active_users_count_local_days(report: OpsReport) -> None:
    # 09-02: rows 1-4, users u1 u2 (both new); 09-03: rows 5-8, users u1 u2 u3 (u3 new);
    # 09-09: rows 9-10, users u2 u3
    assert report.daily["date"].tolist() == days("2024-09-02", "2024-09-03", "2024-09-09")
    assert report.daily["active_users"].tolist() == [2, 3, 2]
    assert report.daily["events"].tolist() == [4, 4, 2]
    assert report.daily["new_users"].tolist() == [2, 1, 0]
    assert report.summary == {"timezone": "Asia/Shanghai", "since": None,
                              "first_day": "2024-09-02", "last_day": "2024-09-09",
                              "events": 10, "users": 3, "items": 3}


def test_retention_per_cohort_and_pooled(report: OpsReport) -> None:
    # cohort 09-02 = {u1, u2}: both active 09-03 -> d1 2/2; on 09-09 only u2 -> d7 1/2
    # cohort 09-03 = {u3}: not active 09-04 -> d1 0/1; 09-10 is after the last day -> d7 NaN
    # pooled: d1 = (2 + 0) / (2 + 1) = 2/3; d7 = 1 / 2 (only cohort 09-02 is observable)
    table = report.retention
    assert table["cohort"].tolist() == days("2024-09-02", "2024-09-03")
    assert table["users"].tolist() == [2, 1]
    assert table["d1"].tolist() == [1.0, 0.0]
    assert table["d7"].iloc[0] == 0.5 and np.isnan(table["d7"].iloc[1])
    assert report.retention_overall == pytest.approx({"d1": 2 / 3, "d7": 0.5})


def test_funnel_counts_users_and_events_per_stage(report: OpsReport) -> None:
    # view: rows 1 4 5 6 7 9 (u1 u2 u3); cart: row 2 (u1); purchase: rows 3 8 10 (u1 u3 u2)
    # step conversion: cart 1/3; purchase 3/1 (users who bought without a logged cart count)
    funnel = report.funnel
    assert funnel["stage"].tolist() == ["view", "cart", "purchase"]
    assert funnel["users"].tolist() == [3, 1, 3]
    assert funnel["events"].tolist() == [6, 1, 3]
    assert np.isnan(funnel["step_conversion"].iloc[0])
    assert funnel["step_conversion"].iloc[1:].tolist() == pytest.approx([1 / 3, 3.0])


def test_conversion_by_local_hour(report: OpsReport) -> None:
    # views: 07 (row 1), 08 (row 5), 09 (row 9), 12 (rows 4, 6), 18 (row 7)
    # purchases: 08 (row 3), 12 (row 10), 18 (row 8)
    hourly = report.hourly.set_index("hour")
    assert len(hourly) == 24
    seen = hourly.loc[hourly["views"] > 0]
    assert seen.index.tolist() == [7, 8, 9, 12, 18]
    assert seen["views"].tolist() == [1, 1, 1, 2, 1]
    assert seen["purchases"].tolist() == [0, 1, 0, 1, 1]
    assert seen["conversion"].tolist() == [0.0, 1.0, 0.0, 0.5, 1.0]
    assert hourly["conversion"].isna().sum() == 19
    assert hourly.loc[23, "views"] == 0  # row 1 is 23:30 UTC but 07:30 in Shanghai


def test_an_event_at_2330_utc_counts_at_0730_next_day_in_shanghai(events: pd.DataFrame) -> None:
    first = events.head(1)
    shanghai = build_ops_report(first, RulesConfig())
    utc = build_ops_report(first, RulesConfig(timezone="UTC"))
    assert shanghai.daily["date"].tolist() == days("2024-09-02")
    assert utc.daily["date"].tolist() == days("2024-09-01")
    assert shanghai.hourly.loc[shanghai.hourly["views"] > 0, "hour"].tolist() == [7]
    assert utc.hourly.loc[utc.hourly["views"] > 0, "hour"].tolist() == [23]
    assert shanghai.top_items["slot"].tolist() == ["breakfast"]
    assert utc.top_items.empty  # 23:30 is in no slot


def test_top_items_per_slot_rank_by_purchases_then_events(report: OpsReport) -> None:
    # breakfast: i1 (rows 1 2 3 5: 1 purchase, 4 events), i3 (row 9: 0, 1)
    # lunch: i2 (rows 4 6 10: 1, 3); dinner: i1 (rows 7 8: 1, 2)
    top = report.top_items
    assert list(top.columns) == ["slot", "rank", "item_id", "purchases", "events", "category",
                                 "title", "in_slot"]
    rows = top[["slot", "rank", "item_id", "purchases", "events", "in_slot"]]
    assert [tuple(row) for row in rows.itertuples(index=False)] == [
        ("breakfast", 1, "i1", 1, 4, True),
        ("breakfast", 2, "i3", 0, 1, False),
        ("lunch", 1, "i2", 1, 3, True),
        ("dinner", 1, "i1", 1, 2, False),
    ]
    assert top["title"].iloc[0] == "油条"


def test_since_limits_the_days_but_not_who_counts_as_new(events: pd.DataFrame) -> None:
    # from 09-03: rows 5-10. u1 and u2 were first seen 09-02, so only u3 is new on 09-03.
    # funnel: view rows 5 6 7 9 (3 users), no cart (0/3), purchases rows 8 10 (2 users, 2/0)
    report = build_ops_report(events, RulesConfig(), since=date(2024, 9, 3))
    assert report.daily["new_users"].tolist() == [1, 0]
    assert report.retention["cohort"].tolist() == days("2024-09-03")
    assert report.retention_overall == {"d1": 0.0, "d7": None}
    assert report.funnel["users"].tolist() == [3, 0, 2]
    assert report.funnel["step_conversion"].iloc[1] == 0.0
    assert np.isnan(report.funnel["step_conversion"].iloc[2])
    assert report.summary["events"] == 6 and report.summary["since"] == "2024-09-03"
    with pytest.raises(ConfigError, match="no events to report on or after 2024-10-01"):
        build_ops_report(events, RulesConfig(), since=date(2024, 10, 1))


def test_json_has_dates_as_text_and_no_nan(report: OpsReport) -> None:
    payload = json.loads(json.dumps(report.to_json(), allow_nan=False))
    assert payload["daily"][0] == {"date": "2024-09-02", "active_users": 2, "events": 4,
                                   "new_users": 2}
    assert payload["retention"]["cohorts"][1] == {"cohort": "2024-09-03", "users": 1, "d1": 0.0,
                                                  "d7": None}
    assert payload["funnel"][0]["step_conversion"] is None
    assert payload["top_items"][0]["item_id"] == "i1"
