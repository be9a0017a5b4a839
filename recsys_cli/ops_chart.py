"""The chart of ``recsys report ops --chart``: four panels a person reads at a glance.

- daily active users over the last ``CHART_DAYS`` local days of the log, returning and new users
  stacked (a few stray events months earlier no longer squash the real days into a corner);
- D1 and D7 retention of the cohorts (first local day) of those days, in percent;
- the funnel: users per stage, with the step conversion written on each bar;
- conversion by local hour (purchases / views), in percent.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from recommender.ops_report import OpsReport

CHART_DAYS = 30


def recent_days(daily: pd.DataFrame, days: int = CHART_DAYS) -> pd.DataFrame:
    """The rows of the last ``days`` calendar days up to the log's last day, missing days as 0."""
    if daily.empty:
        return daily
    last = pd.Timestamp(daily["date"].max())
    span = pd.DataFrame({"date": pd.date_range(end=last, periods=days, freq="D")})
    frame = daily.assign(date=pd.to_datetime(daily["date"]))
    merged = span.merge(frame, on="date", how="left").fillna(0)
    return merged.astype({column: "int64" for column in merged.columns if column != "date"})


def build_chart(report: OpsReport) -> Figure:
    """The four panels as a matplotlib figure (Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter

    zone = report.summary["timezone"]
    figure, axes = plt.subplots(2, 2, figsize=(14, 8))
    (dau, kept), (funnel, hourly) = axes
    days = recent_days(report.daily)
    returning = days["active_users"] - days["new_users"]
    dau.bar(days["date"], returning, color="tab:blue", label="returning users")
    dau.bar(days["date"], days["new_users"], bottom=returning, color="tab:cyan",
            label="new users (first event that day)")
    dau.set_title(f"daily active users, last {CHART_DAYS} days ({zone} days)")
    dau.legend(loc="upper left")
    dau.tick_params(axis="x", labelrotation=45)

    cohorts = report.retention.assign(cohort=pd.to_datetime(report.retention["cohort"]))
    if not days.empty:
        cohorts = cohorts.loc[cohorts["cohort"] >= days["date"].min()]
    for column, label in (("d1", "D1: back the next day"), ("d7", "D7: back 7 days later")):
        kept.plot(cohorts["cohort"], cohorts[column], marker="o", label=label)
    kept.set_title("retention of each day's new users")
    kept.yaxis.set_major_formatter(PercentFormatter(1.0))
    kept.set_ylim(0, 1)
    kept.legend(loc="upper left")
    kept.tick_params(axis="x", labelrotation=45)

    bars = funnel.bar(report.funnel["stage"], report.funnel["users"], color="tab:green")
    for bar, step in zip(bars, report.funnel["step_conversion"], strict=True):
        if pd.notna(step) and step != float("inf"):
            funnel.annotate(f"{step:.1%} of the step before", (bar.get_x() + bar.get_width() / 2,
                            bar.get_height()), ha="center", va="bottom")
    funnel.set_title("funnel: users per stage")

    hourly.bar(report.hourly["hour"], report.hourly["conversion"].fillna(0.0), color="tab:orange")
    hourly.yaxis.set_major_formatter(PercentFormatter(1.0))
    hourly.set_title(f"conversion by local hour: purchases / views ({zone})")
    hourly.set_xlabel("local hour")
    hourly.set_xticks(range(0, 24, 3))
    figure.tight_layout()
    return figure


def draw_chart(report: OpsReport, path: Path) -> None:
    """``build_chart`` saved as a PNG at ``path``."""
    import matplotlib.pyplot as plt

    figure = build_chart(report)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)
