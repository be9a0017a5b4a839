"""``recsys evaluate``: compare models on one offline split."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

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
        str, typer.Option("--protocol", help="stratified, temporal, leave-last or replay (each "
                          "model M also as M+live: what the API answers after each test user's "
                          "first --reveal events).")
    ] = "stratified",
    ratio: Annotated[
        float | None, typer.Option("--ratio", help="Train share (stratified/temporal/replay; "
                                   "default 0.75, replay 0.8).")
    ] = None,
    reveal: Annotated[
        int, typer.Option("--reveal", min=1, max=100,
                          help="replay: test events revealed as live events per user.")
    ] = 3,
    cold_share: Annotated[
        float, typer.Option("--cold-share", min=0.0, max=1.0,
                            help="replay: share of test users treated as new (history hidden).")
    ] = 0.0,
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
    from recommender.rules import repeatable_items
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
    repeatable: set[str] = set()
    if items is not None:
        catalog = load_catalog(items, skip_invalid=skip_invalid)
        reporter.skipped(catalog)
        repeatable = repeatable_items(catalog.frame, cfg.rules.repeatable_categories)
    if protocol == "replay":
        _replay(loaded.frame, names, params, cfg, event_weights, half_life, repeatable,
                ratio if ratio is not None else 0.8, seed, k, reveal, cold_share, as_json,
                reporter, started)
        return
    ratio = 0.75 if ratio is None else ratio
    data = prepare(loaded.frame, protocol, ratio, seed, event_weights, half_life, repeatable)
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


def _replay(events: Any, names: list[str], params: dict[str, dict[str, Any]], cfg: Any,
            weights: dict[str, float], half_life: float, repeatable: set[str], ratio: float,
            seed: int, k: int, reveal: int, cold_share: float, as_json: bool, reporter: Any,
            started: float) -> None:
    """``--protocol replay`` (``recommender.evaluation.replay``): M and M+live per model, over
    all test users and per group."""
    from recommender.evaluation.replay import prepare_replay, replay_models

    data = prepare_replay(events, reveal, cold_share, ratio, seed, weights, half_life,
                          repeatable, cfg.realtime)
    reporter.step(f"replaying {len(data.rows):,} test users ({data.summary['cold_users']:,} new "
                  f"to the model), {reveal} events revealed each")
    results = replay_models(names, data, k, params, cfg.realtime)
    elapsed = time.perf_counter() - started
    if as_json:
        payload = {"protocol": "replay", "k": k, "reveal": reveal, "cold_share": cold_share,
                   "ratio": ratio, "users": results.users,
                   "models": {name: {**metrics, **results.groups[name]}
                              for name, metrics in results.metrics.items()},
                   "errors": results.errors}
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        if results.metrics:
            reporter.table(title=f"replay (ratio {ratio:g}, --reveal {reveal}), "
                           f"{results.users['all']:,} test users, k={k} ({elapsed:.1f} s)",
                           rows=results.metrics)
            for group in ("cold", "warm"):
                rows = {name: groups[group] for name, groups in results.groups.items()
                        if group in groups}
                if rows:
                    who = "new to the model" if group == "cold" else "known to the model"
                    reporter.table(title=f"{group}: {results.users[group]:,} test users {who}",
                                   rows=rows)
        for name, reason in results.errors.items():
            typer.echo(f"error: {name} has no results: {reason}", err=True)
    if not results.metrics:
        raise typer.Exit(1)
