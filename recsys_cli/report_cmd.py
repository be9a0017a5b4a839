"""``recsys report``: the numbers the business runs on, read from the event log."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from numbers import Integral
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys_cli.common import ConfigOpt, JsonOpt, SkipInvalidOpt, guarded, resolve_config_path

if TYPE_CHECKING:
    import pandas as pd

    from recommender.ops_report import OpsReport

OPS_EXAMPLE = (
    "Example: recsys report ops --events demo-data/events.parquet --items demo-data/items.parquet "
    "--since 2024-09-10 --chart ops.png"
)
SHOWN_DAYS = 14

app = typer.Typer(help="Operating reports from the event log.", no_args_is_help=True)


def _parse_day(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise typer.BadParameter(f"expected YYYY-MM-DD, got {value!r}") from None


@app.command(
    "ops",
    help="Daily active users, D1/D7 retention, the view->cart->purchase funnel, conversion by "
    f"hour and top items per slot, in the configured time zone.\n\n{OPS_EXAMPLE}",
)
@guarded
def ops(
    events: Annotated[
        Path, typer.Option("--events", help="Events file (csv, parquet, jsonl) or directory.")
    ],
    items: Annotated[
        Path | None, typer.Option("--items", help="Catalog: categories of the top items.")
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="First local day reported, YYYY-MM-DD.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Top items per slot.")] = 10,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also draw a PNG: daily active users, retention, "
                                 "funnel and conversion by hour.")
    ] = None,
    config: ConfigOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    as_json: JsonOpt = False,
) -> None:
    from recommender.config import load_config
    from recommender.data import load_catalog, load_events
    from recommender.ops_report import build_ops_report
    from recsys_cli.ops_chart import draw_chart
    from recsys_cli.progress import Reporter

    first_day = _parse_day(since)
    cfg = load_config(resolve_config_path(config))
    reporter = Reporter()
    loaded = load_events(events, event_types=set(cfg.events.weights), skip_invalid=skip_invalid)
    reporter.skipped(loaded)
    catalog = None
    if items is not None:
        catalog_loaded = load_catalog(items, skip_invalid=skip_invalid)
        reporter.skipped(catalog_loaded)
        catalog = catalog_loaded.frame
    report = build_ops_report(loaded.frame, cfg.rules, catalog,
                              None if first_day is None else first_day.date(), top)
    if chart is not None:
        draw_chart(report, chart)
        typer.echo(f"wrote {chart}", err=True)
    if as_json:
        sys.stdout.write(json.dumps(report.to_json(), ensure_ascii=False) + "\n")
    else:
        _print(report)


def _table(title: str, frame: pd.DataFrame) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(value) for value in row))
    Console(highlight=False, width=None if sys.stdout.isatty() else 140).print(table)


def _cell(value: object) -> str:
    """Rates (floats in [0, 1]) as percentages, counts with separators, days as dates."""
    import pandas as pd

    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float):
        return f"{value:.1%}" if 0.0 <= value <= 1.0 else f"{value:.3f}"
    if isinstance(value, Integral) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _print(report: OpsReport) -> None:
    s = report.summary
    typer.echo(
        f"{s['events']:,} events, {s['users']:,} users, {s['items']:,} items, "
        f"{s['first_day']} .. {s['last_day']} ({s['timezone']})"
    )
    shown = f" (last {SHOWN_DAYS}; --json for all)" if len(report.daily) > SHOWN_DAYS else ""
    _table(f"daily active users{shown}", report.daily.tail(SHOWN_DAYS))
    overall = ", ".join(
        f"{name} {'-' if value is None else f'{value:.1%}'}"
        for name, value in report.retention_overall.items()
    )
    typer.echo(f"retention, pooled over the cohorts where it is observable: {overall} (D1: share "
               "of a day's new users active again the next local day; D7: seven days later)")
    _table(f"retention by first day (d1, d7: share back 1 and 7 days later){shown}",
           report.retention.tail(SHOWN_DAYS))
    _table("funnel", report.funnel)
    _table("conversion by local hour (purchases / views)",
           report.hourly.loc[report.hourly["views"] > 0])
    _table("top items per slot", report.top_items)
