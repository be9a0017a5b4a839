"""``recsys ab``: A/B comparisons of model versions (``offline``: on a held-out split)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from recsys_cli.common import JsonOpt, SkipInvalidOpt, guarded

if TYPE_CHECKING:
    from training.ab_offline import OfflineComparison, VersionInfo

OFFLINE_EXAMPLE = (
    "Example: recsys ab offline --a products@champion --b products@challenger "
    "--events demo-data/events.parquet --protocol temporal"
)

app = typer.Typer(help="A/B comparisons between model versions.", no_args_is_help=True)


@app.command(
    "offline",
    help="Refit two registered versions on the same split and compare them user by user, with a "
    f"paired bootstrap 95% interval on each difference.\n\n{OFFLINE_EXAMPLE}",
)
@guarded
def offline(
    a: Annotated[str, typer.Option("--a", help="Baseline version: NAME@ALIAS or NAME/VERSION.")],
    b: Annotated[str, typer.Option("--b", help="Challenger version: NAME@ALIAS or NAME/VERSION.")],
    events: Annotated[
        Path, typer.Option("--events", help="Events file (csv, parquet, jsonl) or directory.")
    ],
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", help="Split for both: stratified, temporal or leave-last "
                     "(default: the versions' own, if they agree)."),
    ] = None,
    ratio: Annotated[
        float | None, typer.Option("--ratio", help="Train share of the split.")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Seed of the split.")] = None,
    eval_users: Annotated[
        int | None, typer.Option("--eval-users", min=0, help="Score at most this many users.")
    ] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, help="Cut-off of the metrics.")] = None,
    resamples: Annotated[
        int, typer.Option("--resamples", min=100, help="Bootstrap resamples.")
    ] = 2000,
    skip_invalid: SkipInvalidOpt = False,
    as_json: JsonOpt = False,
) -> None:
    from recommender.data import load_events
    from recsys_cli.progress import Reporter
    from recsys_cli.train_cmd import _mlflow_session, _stepper
    from training.ab_offline import compare_versions
    from training.model_store import load_version

    step = _stepper()
    with _mlflow_session():
        with step(f"loading {a} and {b}"):
            versions = load_version(a), load_version(b)
        vocabulary = set(versions[0].config.weights) | set(versions[1].config.weights)
        with step(f"reading {events}"):
            loaded = load_events(events, event_types=vocabulary, skip_invalid=skip_invalid)
        Reporter().skipped(loaded)
        result = compare_versions(
            loaded.frame, *versions, refs=(a, b), n_resamples=resamples, step=step,
            protocol=protocol, ratio=ratio, seed=seed, eval_users=eval_users, k=k,
        )
    if as_json:
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
    else:
        _print(result)


def _print(result: OfflineComparison) -> None:
    from rich.console import Console
    from rich.table import Table

    split = result.split
    title = (
        f"a = {_side(result.a)}\nb = {_side(result.b)}\n"
        f"{split['protocol']} split, ratio {split['ratio']:g}, seed {split['seed']}, "
        f"{result.users:,} test users"
    )
    table = Table(title=title)
    for column in ("metric", "a", "b", "b - a", "95% interval", "p"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for row in result.metrics:
        interval = "-" if row.low is None else f"[{row.low:+.4f}, {row.high:+.4f}]"
        p_value = "-" if row.p_value is None else (
            "<0.001" if row.p_value < 0.001 else f"{row.p_value:.3f}"
        )
        diff = round(row.diff, 4) + 0.0  # no "-0.0000"
        table.add_row(row.metric, f"{row.a:.4f}", f"{row.b:.4f}", f"{diff:+.4f}", interval,
                      p_value)
    Console(highlight=False).print(table)


def _side(info: VersionInfo) -> str:
    """``products@champion (products/3, als)``; ``products/3 (als)``."""
    label = f"{info.name}/{info.version}"
    version = f"{label}, " if info.name and info.ref != label else ""
    return f"{info.ref} ({version}{info.model})"
