"""The ops chart a person reads at a glance: recent days, percentages, a retention panel."""

from __future__ import annotations

import pandas as pd
from matplotlib.dates import num2date

from recommender.config import RulesConfig
from recommender.ops_report import build_ops_report
from recsys_cli.ops_chart import CHART_DAYS, build_chart, recent_days


def _log() -> pd.DataFrame:
    """Nine busy days in November, and two stray events months earlier."""
    rows = [("u0", "p1", "view", "2024-06-01T08:00:00+08:00"),
            ("u0", "p1", "view", "2024-06-02T08:00:00+08:00")]
    for day in range(1, 10):
        for user in range(day * 3):
            when = f"2024-11-{day:02d}T07:{user % 60:02d}:00+08:00"
            rows.append((f"u{user}", "p1", "view", when))
            if user % 4 == 0:
                rows.append((f"u{user}", "p1", "purchase", when))
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "event", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
    return frame


def test_the_days_panel_shows_the_recent_days_not_the_stray_ones() -> None:
    report = build_ops_report(_log(), RulesConfig())
    days = recent_days(report.daily)
    assert len(days) == CHART_DAYS
    assert days["date"].max() == pd.Timestamp("2024-11-09")
    assert days["date"].min() == pd.Timestamp("2024-11-09") - pd.Timedelta(days=CHART_DAYS - 1)
    assert days.loc[days["date"] == pd.Timestamp("2024-11-05"), "active_users"].item() == 15
    assert days.loc[days["date"] == pd.Timestamp("2024-10-20"), "active_users"].item() == 0

    figure = build_chart(report)
    dau, kept, funnel, hourly = figure.axes[:4]
    left = num2date(dau.get_xlim()[0]).date()
    assert left.year == 2024 and left.month >= 10, "June's stray events squash the real days"
    assert "retention" in kept.get_title()
    first_cohort = pd.Timestamp(kept.get_lines()[0].get_xdata()[0])
    assert first_cohort.month >= 10, "June's stray cohort stretches the retention panel"
    assert hourly.yaxis.get_major_formatter().__class__.__name__ == "PercentFormatter"
    assert kept.yaxis.get_major_formatter().__class__.__name__ == "PercentFormatter"
    assert any("of the step before" in text.get_text() for text in funnel.texts)
