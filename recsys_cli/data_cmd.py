"""``recsys data``: make and inspect data sets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys_cli.common import ConfigOpt, SkipInvalidOpt, guarded, resolve_config_path

if TYPE_CHECKING:
    import pandas as pd

app = typer.Typer(
    help="Make and inspect data sets (events and catalogs).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

SYNTH_EXAMPLE = "Example: recsys data synth --out data/synth --users 2000 --items 500 --days 60"


class SynthFormat(StrEnum):
    csv = "csv"
    parquet = "parquet"
    jsonl = "jsonl"


@app.command(
    "synth",
    help="Write realistic synthetic mini-program data: events and items, seeded.\n\n"
    "Products and content in 7 categories, users with latent tastes and time-of-day habits "
    "(breakfast regulars), a view → cart → purchase funnel and new items. "
    f"Same seed, same bytes.\n\n{SYNTH_EXAMPLE}",
)
@guarded
def synth(
    out: Annotated[Path, typer.Option("--out", help="Folder to write events.* and items.* into.")],
    users: Annotated[int, typer.Option("--users", min=1, help="Number of users.")] = 2000,
    items: Annotated[int, typer.Option("--items", min=7, help="Catalog size (>= 7).")] = 500,
    days: Annotated[int, typer.Option("--days", min=1, help="Days of behaviour.")] = 60,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 42,
    start: Annotated[
        datetime | None,
        typer.Option("--start", formats=["%Y-%m-%d"], help="First day (default 2024-09-02)."),
    ] = None,
    fmt: Annotated[SynthFormat, typer.Option("--format", help="Output format.")] = SynthFormat.csv,
) -> None:
    from recommender.synth import synthesize, write_synth
    from recsys_cli.progress import Reporter

    reporter = Reporter()
    reporter.step(f"generating {users:,} users x {items:,} items x {days} days (seed {seed})")
    data = synthesize(users, items, days, seed, start.date() if start else None)
    reporter.step(f"writing {fmt.value} into {out}")
    events_path, items_path = write_synth(data, out, fmt.value)
    typer.echo(f"wrote {events_path} and {items_path}")
    for line in describe_lines(data.events, data.catalog):
        typer.echo(line)


VALIDATE_EXAMPLE = (
    "Example: recsys data validate --events data/synth/events.csv --items data/synth/items.csv"
)


@app.command(
    "validate",
    help="Check events (and a catalog) against the data contract and describe them.\n\n"
    "Strict by default: any bad row fails with the file, row, column and reason; "
    f"--skip-invalid drops bad rows and counts them.\n\n{VALIDATE_EXAMPLE}",
)
@guarded
def validate(
    events: Annotated[
        Path, typer.Option("--events", help="Events file (csv, parquet, jsonl) or dir.")
    ],
    items: Annotated[Path | None, typer.Option("--items", help="Catalog file.")] = None,
    config: ConfigOpt = None,
    skip_invalid: SkipInvalidOpt = False,
) -> None:
    from recommender.config import load_config
    from recommender.data import load_catalog, load_events
    from recsys_cli.progress import Reporter

    reporter = Reporter()
    cfg = load_config(resolve_config_path(config))
    reporter.step(f"reading {events}")
    loaded = load_events(events, event_types=set(cfg.events.weights), skip_invalid=skip_invalid)
    reporter.skipped(loaded)
    typer.echo(f"ok {loaded.source}: {len(loaded.frame):,} of {loaded.rows_read:,} rows valid")
    catalog = None
    if items is not None:
        reporter.step(f"reading {items}")
        catalog_loaded = load_catalog(items, skip_invalid=skip_invalid)
        reporter.skipped(catalog_loaded)
        catalog = catalog_loaded.frame
        typer.echo(
            f"ok {catalog_loaded.source}: {len(catalog):,} of {catalog_loaded.rows_read:,} "
            "rows valid"
        )
    for line in describe_lines(loaded.frame, catalog):
        typer.echo(line)


def describe_lines(events: pd.DataFrame, catalog: pd.DataFrame | None = None) -> list[str]:
    """Sizes, local date range and event mix of ``events``; kinds, new and unavailable items.

    Items are *new* when created in the last ``NEW_ITEM_DAYS`` before the newest event; events
    whose item is missing from the catalog are counted.
    """
    import pandas as pd

    from recommender.synth import EVENT_TYPES, TIMEZONE
    from recommender.synth.catalog import NEW_ITEM_DAYS

    if events.empty:
        return ["events: 0 rows"]
    local = events["timestamp"].dt.tz_convert(TIMEZONE)
    counts = events["event"].value_counts()
    known = [name for name in EVENT_TYPES if name in counts.index]
    counts = counts.reindex([*known, *sorted(set(counts.index) - set(known))])
    mix = ", ".join(
        f"{name} {count:,} ({count / len(events):.1%})" for name, count in counts.items()
    )
    lines = [
        f"events: {len(events):,} rows, {events['user_id'].nunique():,} users, "
        f"{events['item_id'].nunique():,} items",
        f"dates: {local.min():%Y-%m-%d} .. {local.max():%Y-%m-%d} ({TIMEZONE})",
        f"event mix: {mix}",
    ]
    if catalog is not None:
        kinds = catalog["kind"].value_counts()
        since = events["timestamp"].max() - pd.Timedelta(days=NEW_ITEM_DAYS)
        new = int((catalog["created_at"] > since).sum())
        unknown = int((~events["item_id"].isin(catalog["item_id"])).sum())
        lines.append(
            f"catalog: {len(catalog):,} items ({kinds.get('product', 0):,} products, "
            f"{kinds.get('content', 0):,} content; {new:,} new, "
            f"{int((~catalog['available']).sum()):,} unavailable); "
            f"{unknown:,} events on items not in the catalog"
        )
    return lines
