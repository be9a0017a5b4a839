"""``recsys ab``: A/B comparisons of model versions (``offline``: on a held-out split;
``start``, ``stop``, ``list``, ``report``: online experiments served from Redis)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recsys_cli.common import (
    ConfigOpt,
    JsonOpt,
    SkipInvalidOpt,
    fail,
    guarded,
    mlflow_session,
    resolve_config_path,
    stepper,
)

if TYPE_CHECKING:
    from storage.connect import SyncClient
    from storage.experiments import ExperimentRecord
    from storage.keys import Keys
    from training.ab_offline import OfflineComparison, VersionInfo

OFFLINE_EXAMPLE = (
    "Example: recsys ab offline --a products@champion --b products@challenger "
    "--events demo-data/events.parquet --protocol temporal"
)

START_EXAMPLE = (
    "Example: recsys ab start als-vs-bpr --variant control=products@champion:50 "
    "--variant treatment=products@challenger:50 --kind product"
)
REPORT_EXAMPLE = "Example: recsys ab report als-vs-bpr --metric ctr --json"

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
        typer.Option(
            "--protocol",
            help="Split for both: stratified, temporal or leave-last "
            "(default: the versions' own, if they agree).",
        ),
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
    from training.ab_offline import compare_versions
    from training.model_store import load_version

    step = stepper()
    with mlflow_session():
        with step(f"loading {a} and {b}"):
            versions = load_version(a), load_version(b)
        vocabulary = set(versions[0].config.weights) | set(versions[1].config.weights)
        with step(f"reading {events}"):
            loaded = load_events(events, event_types=vocabulary, skip_invalid=skip_invalid)
        Reporter().skipped(loaded)
        result = compare_versions(
            loaded.frame,
            *versions,
            refs=(a, b),
            n_resamples=resamples,
            step=step,
            protocol=protocol,
            ratio=ratio,
            seed=seed,
            eval_users=eval_users,
            k=k,
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
        p_value = (
            "-"
            if row.p_value is None
            else ("<0.001" if row.p_value < 0.001 else f"{row.p_value:.3f}")
        )
        diff = round(row.diff, 4) + 0.0  # no "-0.0000"
        table.add_row(row.metric, f"{row.a:.4f}", f"{row.b:.4f}", f"{diff:+.4f}", interval, p_value)
    Console(highlight=False).print(table)


def _side(info: VersionInfo) -> str:
    """``products@champion (products/3, als)``; ``products/3 (als)``."""
    label = f"{info.name}/{info.version}"
    version = f"{label}, " if info.name and info.ref != label else ""
    return f"{info.ref} ({version}{info.model})"


def _redis(config: Path | None) -> tuple[SyncClient, Keys]:
    """The configured Redis and its key names (``recsys_cli.storage_opts``)."""
    from recsys_cli.storage_opts import open_storage

    client, keys, _ = open_storage(config)
    return client, keys


@app.command(
    "start",
    help="Start an online experiment: users are split between the variants by a stable hash, "
    "each variant served by its model version (published first, not live, if it is not in "
    "Redis yet). Serving picks it up within a second.\n\n" + START_EXAMPLE,
)
@guarded
def start(
    name: Annotated[str, typer.Argument(help="Experiment name, e.g. als-vs-bpr.")],
    variant: Annotated[
        list[str],
        typer.Option("--variant", help="NAME=MODEL@ALIAS:WEIGHT (or MODEL/VERSION), repeatable."),
    ],
    kind: Annotated[
        list[str] | None,
        typer.Option(
            "--kind",
            help="Split only this kind's traffic (product, content); "
            "repeatable. Default: every kind.",
        ),
    ] = None,
    control: Annotated[
        str | None,
        typer.Option(
            "--control", help="The baseline variant (default: 'control', else the first)."
        ),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from recsys_cli.storage_opts import open_storage
    from training.experiments import VariantSpec, registry_publisher, start_experiment

    client, keys, cfg = open_storage(config)
    publisher = registry_publisher(client, cfg, keys)
    step = stepper()
    published: list[str] = []

    def publish(model: str, version: str) -> str:
        with step(f"publishing {model}/{version} (not in Redis yet; it does not go live)"):
            published.append(publisher(model, version))
        return published[-1]

    specs = [VariantSpec.parse(text) for text in variant]
    with mlflow_session():
        record = start_experiment(
            client, keys, name, specs, publish=publish, kinds=kind or (), control=control
        )
    if as_json:
        typer.echo(json.dumps({**record.to_json(), "published_now": published}))
        return
    total = sum(v.weight for v in record.variants)
    typer.echo(f"started experiment {name} on {_kinds(record)} traffic (control: {record.control})")
    for v in record.variants:
        note = ", published now" if v.namespace in published else ""
        typer.echo(
            f"  {v.name:<12} {v.weight / total:>4.0%}  {v.ref} -> {v.model}/{v.version} "
            f"({v.namespace}{note})"
        )


@app.command(
    "stop",
    help="Stop an experiment: every user gets the live version again; its "
    "counts stay for `recsys ab report`.\n\nExample: recsys ab stop als-vs-bpr",
)
@guarded
def stop(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from storage.experiments import stop_experiment
    from training.publish import RETAIN_SECONDS

    client, keys = _redis(config)
    record = stop_experiment(client, keys, name, retain_seconds=RETAIN_SECONDS)
    if as_json:
        typer.echo(json.dumps(record.to_json()))
        return
    assert record.stopped_at is not None
    typer.echo(
        f"stopped experiment {name} (ran {record.started_at:%Y-%m-%d %H:%M} to "
        f"{record.stopped_at:%Y-%m-%d %H:%M} UTC); `recsys ab report {name}` still "
        "reads its counts"
    )


@app.command("list", help="Experiments, running first.\n\nExample: recsys ab list")
@guarded
def list_(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    from rich.console import Console
    from rich.table import Table

    from storage.experiments import list_experiments

    client, keys = _redis(config)
    records = list_experiments(client, keys)
    if as_json:
        typer.echo(json.dumps([record.to_json() for record in records]))
        return
    if not records:
        typer.echo("no experiments; start one with recsys ab start (see --help)")
        return
    table = Table("experiment", "traffic")
    table.add_column("variants", no_wrap=True)
    table.add_column("status (UTC)")
    for record in records:
        total = sum(v.weight for v in record.variants)
        variants = "\n".join(
            f"{v.name} {v.weight / total:.0%} {v.model}/{v.version}" for v in record.variants
        )
        status = f"running since {record.started_at:%Y-%m-%d %H:%M}"
        if record.stopped_at:
            status = (
                f"stopped {record.stopped_at:%Y-%m-%d %H:%M}, ran from "
                f"{record.started_at:%Y-%m-%d %H:%M}"
            )
        table.add_row(record.name, _kinds(record), variants, status)
    Console(highlight=False).print(table)


@app.command(
    "report",
    help="The results of an experiment from the counts in Redis: per "
    "variant users, impressions, clicks, carts, purchases, CTR and conversion with 95% "
    "intervals; uplift against control with its interval, p-value and a verdict.\n\n"
    + REPORT_EXAMPLE,
)
@guarded
def report(
    name: Annotated[str, typer.Argument(help="Experiment name.")],
    metric: Annotated[
        str, typer.Option("--metric", help="Metric of the verdict: conversion or ctr.")
    ] = "conversion",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    import asyncio
    from datetime import UTC, datetime

    from recommender.config import load_config
    from recsys_cli.storage_opts import storage_settings
    from serving.experiments import experiment_report
    from serving.settings import load_settings
    from storage.experiments import ExperimentRecord
    from storage.reader import Store

    if metric not in ("conversion", "ctr"):
        fail(f"--metric must be conversion or ctr, got {metric!r}")
    settings = storage_settings(load_config(resolve_config_path(config)))
    window = load_settings().ab_attribution_hours * 3600

    async def read() -> dict[str, Any] | None:
        store = Store.connect(settings.url, settings.prefix)
        try:
            (raw,) = await store.pipeline(lambda p: p.hget(store.keys.experiments(), name))
            if raw is None:
                return None
            return await experiment_report(
                store, ExperimentRecord.from_json(raw), metric, datetime.now(UTC), window
            )
        finally:
            await store.close()

    body = asyncio.run(read())
    if body is None:
        fail(f"no experiment {name!r}; see recsys ab list")
    if as_json:
        typer.echo(json.dumps(body))
    else:
        _print_report(body)


def _kinds(record: ExperimentRecord) -> str:
    return "/".join(record.kinds) or "all"


def _rate(rate: dict[str, float | None]) -> str:
    if rate["value"] is None:
        return "-"
    return f"{rate['value']:.2%} [{rate['low']:.2%}, {rate['high']:.2%}]"


def _uplift(comparison: dict[str, Any]) -> str:
    if comparison["uplift"] is None:
        return "-"
    interval = (
        ""
        if comparison["low"] is None
        else f" [{comparison['low']:+.1%}, {comparison['high']:+.1%}]"
    )
    return f"{comparison['uplift']:+.1%}{interval}, p = {comparison['p_value']:.3g}"


def _print_report(body: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    experiment = body["experiment"]
    models = {v["name"]: f"{v['model']}/{v['version']}" for v in experiment["variants"]}
    console = Console(highlight=False)
    console.print(
        f"experiment {body['name']} ({experiment['status']}, since "
        f"{experiment['started_at'][:16].replace('T', ' ')} UTC, "
        f"{'/'.join(experiment['kinds']) or 'all'} traffic), control: {body['control']}"
    )
    counts, rates = Table("variant", "model"), Table("variant")
    for column in ("users", "impressions", "clicks", "carts", "purchases"):
        counts.add_column(column, justify="right")
    for column in ("CTR [95%]", "conversion [95%]"):
        rates.add_column(column, justify="right")
    for variant in body["variants"]:
        number = {key: f"{value:,}" for key, value in variant["counts"].items()}
        counts.add_row(
            variant["name"],
            models[variant["name"]],
            number["users"],
            number["impressions"],
            number["clicks"],
            number["carts"],
            number["purchases"],
        )
        rates.add_row(variant["name"], _rate(variant["ctr"]), _rate(variant["conversion"]))
    console.print(counts)
    console.print(rates)
    for variant in body["variants"]:
        versus = variant["vs_control"]
        if versus:
            console.print(
                f"{variant['name']} vs {body['control']}: CTR {_uplift(versus['ctr'])}; "
                f"conversion {_uplift(versus['conversion'])}"
            )
    console.print(f"verdict ({body['metric']}): {body['verdict']}")
    rejected = body["rejected_rec_ids"]
    if rejected:
        console.print(
            "rec_ids not attributed (all experiments): "
            + ", ".join(f"{reason} {count:,}" for reason, count in sorted(rejected.items()))
        )
