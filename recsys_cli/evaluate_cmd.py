"""``recsys evaluate``: compare models on one offline split."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.common import (
    ConfigOpt,
    JsonOpt,
    SkipInvalidOpt,
    fail,
    guarded,
    option_weights,
    resolve_config_path,
)

EXAMPLE = (
    "Example: recsys evaluate --events ../shared/data/ml-100k/events.csv --protocol stratified "
    "--k 10 --models pop,als,ease --weights view=1,purchase=1"
)
EXIT_CODES = (
    "A model that cannot run on the data (e.g. EASE over its max_items) is reported with its "
    "reason and the others still are: the exit code is 0 if at least one model was scored, "
    "1 if none was, 2 for bad options or input."
)


def register(app: typer.Typer) -> None:
    app.command(
        "evaluate", help=f"Compare models on one offline split.\n\n{EXIT_CODES}\n\n{EXAMPLE}"
    )(evaluate)


@guarded
def evaluate(
    events: Annotated[
        Path, typer.Option("--events", help="Events file (csv, parquet, jsonl) or dir.")
    ],
    items: Annotated[
        Path | None, typer.Option("--items", help="Catalog file (for validation).")
    ] = None,
    protocol: Annotated[
        str, typer.Option("--protocol", help="stratified, temporal or leave-last.")
    ] = "stratified",
    ratio: Annotated[
        float, typer.Option("--ratio", help="Train share (stratified/temporal).")
    ] = 0.75,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the split.")] = 42,
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="Cut-off of the metrics.")] = 10,
    models: Annotated[
        str, typer.Option("--models", help="Comma-separated: pop,als,bpr,itemknn,ease.")
    ] = "pop,als,bpr,itemknn,ease",
    param: Annotated[
        list[str] | None, typer.Option("--param", help="MODEL.NAME=VALUE, repeatable.")
    ] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", help="Event weights, e.g. view=1,purchase=8.")
    ] = None,
    half_life_days: Annotated[
        float | None, typer.Option("--half-life-days", help="Time decay; 0 = none.")
    ] = None,
    config: ConfigOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    as_json: JsonOpt = False,
) -> None:
    from recommender.config import load_config, parse_params
    from recommender.data import load_catalog, load_events
    from recommender.evaluation import evaluate_models, prepare
    from recommender.models import MODEL_NAMES
    from recsys_cli.progress import Reporter

    cfg = load_config(resolve_config_path(config))
    event_weights = option_weights(weights, cfg.events.weights)
    half_life = cfg.events.half_life_days if half_life_days is None else half_life_days
    names = list(dict.fromkeys(n.strip().lower() for n in models.split(",") if n.strip()))
    unknown = [n for n in names if n not in MODEL_NAMES]
    if unknown:
        fail(f"--models: unknown model(s) {unknown}; choose from {', '.join(MODEL_NAMES)}")
    overrides = parse_params(param or [])
    params = {name: {**cfg.models.params_for(name), **overrides.get(name, {})} for name in names}

    reporter = Reporter(quiet=False)
    started = time.perf_counter()
    loaded = load_events(events, event_types=set(event_weights), skip_invalid=skip_invalid)
    reporter.skipped(loaded)
    if items is not None:
        reporter.skipped(load_catalog(items, skip_invalid=skip_invalid))
    data = prepare(loaded.frame, protocol, ratio, seed, event_weights, half_life)
    results = evaluate_models(names, data, k=k, params=params, progress=reporter.step)
    elapsed = time.perf_counter() - started

    if as_json:
        payload = {"protocol": protocol, "k": k, "models": results.metrics,
                   "errors": results.errors}
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        if results.metrics:
            reporter.table(
                title=f"{protocol} split, {len(data.users):,} test users, k={k} ({elapsed:.1f} s)",
                rows=results.metrics,
                seconds=results.seconds,
            )
        for name, reason in results.errors.items():
            typer.echo(f"error: {name} has no results: {reason}", err=True)
    if not results.metrics:
        raise typer.Exit(1)
