"""``recsys train``, ``tune``, ``promote`` and ``models list``: the offline work on MLflow."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from recsys_cli.common import (
    ConfigOpt,
    JsonOpt,
    SkipInvalidOpt,
    collector_paused,
    fail,
    guarded,
    mlflow_session,
    open_tracking_early,
    option_weights,
    resolve_config_path,
    stepper,
)
from recsys_cli.storage_opts import PrefixOpt, RedisUrlOpt

if TYPE_CHECKING:
    import pandas as pd

    from training.job_data import Step
    from training.registry import Decision
    from training.spec import TrainSpec

TRAIN_EXAMPLE = (
    "Example: recsys train --events demo-data/events.parquet --items demo-data/items.parquet "
    "--model als --param factors=64 --experiment shop --register products --alias champion "
    "[--engine spark --spark-master spark://host:7077]"
)
TUNE_EXAMPLE = (
    "Example: recsys tune --events ../shared/data/ml-100k/events.csv --model ease --trials 30 "
    "--weights view=1,purchase=1 --experiment ml100k --register ml100k-ease --json"
)
PROMOTE_EXAMPLE = "Example: recsys promote products --version 4 --alias champion --publish"
LIST_EXAMPLE = "Example: recsys models list products (no name: every registered model)"
LIST_METRICS = ("ndcg@10", "precision@10")

EventsOpt = Annotated[
    Path, typer.Option("--events", help="Events file (csv, parquet, jsonl) or a parquet directory.")
]
ItemsOpt = Annotated[
    Path | None, typer.Option("--items", help="Catalog file, stored with the model.")
]
ModelOpt = Annotated[str, typer.Option("--model", help="pop, als, bpr, itemknn or ease.")]
ParamOpt = Annotated[
    list[str] | None, typer.Option("--param", help="Hyper-parameter NAME=VALUE, repeatable.")
]
ProtocolOpt = Annotated[
    str, typer.Option("--protocol", help="Evaluation split: stratified, temporal or leave-last.")
]
RatioOpt = Annotated[float, typer.Option("--ratio", help="Train share of the split.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the split (and of the search).")]
WeightsOpt = Annotated[
    str | None, typer.Option("--weights", help="Event weights, e.g. view=1,purchase=8.")
]
HalfLifeOpt = Annotated[
    float | None, typer.Option("--half-life-days", help="Time decay of confidence; 0 = none.")
]
EvalUsersOpt = Annotated[
    int, typer.Option("--eval-users", min=0, help="Score at most this many test users; 0 = all.")
]
ExperimentOpt = Annotated[str, typer.Option("--experiment", help="MLflow experiment name.")]
RegisterOpt = Annotated[
    str | None, typer.Option("--register", help="Register the model under this name.")
]
AliasOpt = Annotated[
    str | None,
    typer.Option("--alias", help="Move this alias to the new version, through the promotion gate."),
]
EngineOpt = Annotated[
    str,
    typer.Option("--engine", help="implicit (one machine, the default) or spark (Spark MLlib "
                 "ALS; needs pyspark and a Java runtime)."),
]
SparkMasterOpt = Annotated[
    str, typer.Option("--spark-master", help="Spark master URL of --engine spark.")
]
ENGINES = ("implicit", "spark")

models_app = typer.Typer(help="Registered models and their versions.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.command("train", help=f"Train, evaluate, log and register a model.\n\n{TRAIN_EXAMPLE}")(
        train
    )
    app.command("tune", help=f"Search hyper-parameters, then log the best.\n\n{TUNE_EXAMPLE}")(tune)
    app.command(
        "promote",
        help="Move an alias behind a quality gate. Serving keeps the version last published "
        f"until `recsys publish NAME@ALIAS` (or --publish).\n\n{PROMOTE_EXAMPLE}",
    )(promote)
    app.add_typer(models_app, name="models")
    models_app.command(
        "list",
        help="Versions, aliases, test metrics with their split, and which version is live.\n\n"
        f"{LIST_EXAMPLE}",
    )(list_models)


def _spec(
    model: str,
    param: list[str] | None,
    weights: str | None,
    half_life_days: float | None,
    config: Path | None,
    **split: Any,
) -> TrainSpec:
    """The job's spec: recsys.toml (``--config``) overridden by the options given."""
    from recommender.config import load_config
    from recommender.errors import UnknownModelError
    from training.spec import TrainSpec, model_name, model_params

    cfg = load_config(resolve_config_path(config))
    try:
        model = model_name(model)
    except UnknownModelError as exc:
        fail(f"--model: {exc}")
    return TrainSpec(
        model=model,
        params=model_params(model, param or [], cfg),
        weights=option_weights(weights, cfg.events.weights),
        half_life_days=cfg.events.half_life_days if half_life_days is None else half_life_days,
        repeatable_categories=list(cfg.rules.repeatable_categories),
        **split,
    )


def _read(
    events: Path, items: Path | None, spec: TrainSpec, skip_invalid: bool, step: Step
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The events (types limited to those with a weight) and the catalog, if given."""
    from recommender.data import load_events
    from recsys_cli.progress import Reporter

    with step(f"reading {events}"):
        loaded = load_events(events, event_types=set(spec.weights), skip_invalid=skip_invalid)
    Reporter().skipped(loaded)
    return loaded.frame, _read_catalog(items, skip_invalid, step)


def _read_catalog(items: Path | None, skip_invalid: bool, step: Step) -> pd.DataFrame | None:
    """The catalog, if given (its skipped rows reported)."""
    from recommender.data import load_catalog
    from recsys_cli.progress import Reporter

    if items is None:
        return None
    with step(f"reading {items}"):
        catalog = load_catalog(items, skip_invalid=skip_invalid)
    Reporter().skipped(catalog)
    return catalog.frame


def _report(payload: dict[str, Any], as_json: bool, decision: Decision | None) -> None:
    if as_json:
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        from rich.console import Console

        out = Console(highlight=False)
        out.print(f"run      {payload['run_id']}")
        out.print(f"params   {json.dumps(payload['params'])}")
        for part in ("validation", "test"):
            if part in payload:
                shown = "  ".join(f"{k} {v:.4f}" for k, v in payload[part].items())
                out.print(f"{part:<8} {shown}")
        out.print(f"version  {payload['version'] or '(not registered)'}")
        out.print(f"seconds  {payload['seconds']:.1f}")
    if decision is not None:
        _decided(decision)


def _decided(decision: Decision, deploying: bool = False) -> None:
    """Say what happened to the alias, and how to deploy it unless ``deploying``; a refusal
    ends the command with exit code 1."""
    moved = "moved to" if decision.promoted else "NOT moved to"
    typer.echo(
        f"alias {decision.alias!r} of {decision.name!r} {moved} version {decision.version}: "
        f"{decision.reason}",
        err=True,
    )
    if not decision.promoted:
        raise typer.Exit(1)
    if not deploying:
        typer.echo(
            "promoting is not deploying: serving keeps the version last published; deploy this "
            f"one with `recsys publish {decision.name}@{decision.alias}`",
            err=True,
        )


@guarded
def train(
    events: EventsOpt,
    experiment: ExperimentOpt,
    model: ModelOpt = "als",
    items: ItemsOpt = None,
    param: ParamOpt = None,
    protocol: ProtocolOpt = "stratified",
    ratio: RatioOpt = 0.75,
    seed: SeedOpt = 42,
    eval_users: EvalUsersOpt = 20_000,
    weights: WeightsOpt = None,
    half_life_days: HalfLifeOpt = None,
    register_as: RegisterOpt = None,
    alias: AliasOpt = None,
    config: ConfigOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    as_json: JsonOpt = False,
    engine: EngineOpt = "implicit",
    spark_master: SparkMasterOpt = "local[*]",
) -> None:
    step = stepper()
    if engine not in ENGINES:
        fail(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    spec = _spec(
        model,
        param,
        weights,
        half_life_days,
        config,
        protocol=protocol,
        ratio=ratio,
        seed=seed,
        eval_users=eval_users,
    )
    if engine == "spark":
        _train_on_spark(events, items, spec, experiment, register_as, alias, skip_invalid,
                        as_json, spark_master, step)
        return
    with collector_paused():
        open_tracking_early(experiment)
        frame, catalog = _read(events, items, spec, skip_invalid, step)
        from training.job_data import prepare_job

        job = prepare_job(frame, spec, step, catalog)  # while MLflow is still being imported
        from training.train import train as run_train

    with mlflow_session():
        result = run_train(
            job,
            spec,
            experiment=experiment,
            catalog=catalog,
            register=register_as,
            alias=alias,
            step=step,
        )
    _report(result.to_json(), as_json, result.promotion)


def _train_on_spark(
    events: Path, items: Path | None, spec: TrainSpec, experiment: str, register_as: str | None,
    alias: str | None, skip_invalid: bool, as_json: bool, spark_master: str, step: Step,
) -> None:
    """``recsys train --engine spark``: the same job, the events read, split and summed on Spark
    (``training.spark.job_data``) and ALS fitted there (``training.spark.train``)."""
    from recommender.errors import ConfigError

    try:
        from training.spark.train import check_spark_model, train_on_spark
    except ImportError as exc:
        fail(f"--engine spark needs pyspark ({exc}); install it with pip install 'recsys[spark]'")
    try:
        check_spark_model(spec.model)
    except ConfigError as exc:
        fail(f"--engine spark: {exc}")
    from recsys_cli.progress import Reporter
    from training.spark.job_data import prepare_job_on_spark
    from training.spark.session import spark_session

    catalog = _read_catalog(items, skip_invalid, step)
    with step(f"starting Spark ({spark_master})"):
        spark = spark_session(spark_master)
    job, load = prepare_job_on_spark(spark, events, spec, catalog, skip_invalid=skip_invalid,
                                     step=step)  # the events stay on Spark
    Reporter().skipped(load)
    with mlflow_session():
        result = train_on_spark(job, spec, spark, experiment=experiment, catalog=catalog,
                                register=register_as, alias=alias, step=step)
    _report({**result.to_json(), "engine": "spark"}, as_json, result.promotion)


@guarded
def tune(
    events: EventsOpt,
    experiment: ExperimentOpt,
    model: ModelOpt = "als",
    trials: Annotated[int, typer.Option("--trials", min=1, help="Number of trials.")] = 20,
    metric: Annotated[str, typer.Option("--metric", help="Validation metric to maximize.")] = (
        "ndcg@10"
    ),
    items: ItemsOpt = None,
    param: ParamOpt = None,
    protocol: ProtocolOpt = "stratified",
    ratio: RatioOpt = 0.75,
    seed: SeedOpt = 42,
    eval_users: EvalUsersOpt = 20_000,
    weights: WeightsOpt = None,
    half_life_days: HalfLifeOpt = None,
    register_as: RegisterOpt = None,
    alias: AliasOpt = None,
    config: ConfigOpt = None,
    skip_invalid: SkipInvalidOpt = False,
    as_json: JsonOpt = False,
) -> None:
    step = stepper()
    spec = _spec(
        model,
        param,
        weights,
        half_life_days,
        config,
        protocol=protocol,
        ratio=ratio,
        seed=seed,
        eval_users=eval_users,
    )
    with collector_paused():
        open_tracking_early(experiment)
        frame, catalog = _read(events, items, spec, skip_invalid, step)
        from training.tune import tune as run_tune

    with mlflow_session():
        result = run_tune(
            frame,
            spec,
            trials=trials,
            experiment=experiment,
            metric=metric,
            catalog=catalog,
            register=register_as,
            alias=alias,
            step=step,
        )
    _report(result.to_json(), as_json, result.promotion)


@guarded
def promote(
    name: Annotated[str, typer.Argument(help="Registered model name.")],
    version: Annotated[str, typer.Option("--version", help="Version to promote.")],
    alias: Annotated[str, typer.Option("--alias", help="Alias to move.")] = "champion",
    force: Annotated[bool, typer.Option("--force", help="Skip the quality gate.")] = False,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Allowed drop of the metric.")
    ] = 0.005,
    metric: Annotated[str, typer.Option("--metric", help="Test metric compared.")] = "ndcg@10",
    publish: Annotated[
        bool, typer.Option("--publish", help="Then publish NAME@ALIAS to Redis: deploy it.")
    ] = False,
    config: ConfigOpt = None,
    redis_url: RedisUrlOpt = None,
    prefix: PrefixOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from recommender.config import load_config
    from recsys_cli.publishing import publish_ref
    from training.registry import promote as run_promote

    cfg = load_config(resolve_config_path(config))
    with mlflow_session():
        decision = run_promote(
            name, version, alias, force=force, tolerance=tolerance, metric=metric
        )
    if not (decision.promoted and publish):
        _promoted_json(decision, None, as_json)
        _decided(decision)
        return
    _decided(decision, deploying=True)
    stats = publish_ref(f"{name}@{alias}", cfg, quiet=as_json, redis_url=redis_url, prefix=prefix)
    _promoted_json(decision, stats.namespace, as_json)
    typer.echo(f"published {name} version {stats.version} as {stats.namespace}: live now "
               "(serving switches to it within a second)", err=True)


def _promoted_json(decision: Decision, published: str | None, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({**asdict(decision), "published": published}) + "\n")


@guarded
def list_models(
    name: Annotated[
        str | None, typer.Argument(help="Registered model name (default: every model).")
    ] = None,
    config: ConfigOpt = None,
    redis_url: RedisUrlOpt = None,
    prefix: PrefixOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from rich.console import Console
    from rich.table import Table

    from recommender.config import load_config
    from recsys_cli.publishing import serving_state
    from training.aliases import CHAMPION
    from training.model_store import REGISTER_COMMAND
    from training.registry import list_versions

    with mlflow_session():
        versions = list_versions(name)
    if not versions and not as_json:
        typer.echo("no registered model yet; train and register one with "
                   f"`{REGISTER_COMMAND.format(name='NAME')}`", err=True)
        return
    state = serving_state(load_config(resolve_config_path(config)), redis_url, prefix)
    if state.note:
        typer.echo(f"note: {state.note}", err=True)
    for info in versions:
        live = state.live.get(info.name)
        if CHAMPION in info.aliases and live is not None and live != info.version:
            typer.echo(f"note: {info.name}@{CHAMPION} is version {info.version} but version {live} "
                       f"is live; deploy it with `recsys publish {info.name}@{CHAMPION}`", err=True)
    if as_json:
        rows = [{**asdict(v), "created": v.created.isoformat(),
                 "serving": state.of(v.name, v.version) or None} for v in versions]
        sys.stdout.write(json.dumps(rows) + "\n")
        return
    table = Table(title=f"registered model {name!r}" if name else "registered models",
                  caption="serving: live = what the API answers with (`recsys publish` deploys); "
                  "split = the held-out split the test metrics come from")
    for column in ("model", "version", "aliases", "serving", *LIST_METRICS, "split", "created"):
        table.add_column(column, justify="right" if "@" in column else "left", overflow="fold")
    for info in versions:
        metrics = [f"{info.test[m]:.4f}" if m in info.test else "-" for m in LIST_METRICS]
        table.add_row(
            info.name,
            info.version,
            ", ".join(info.aliases),
            state.of(info.name, info.version) if not state.note else "?",
            *metrics,
            info.split or "-",
            info.created.strftime("%Y-%m-%d %H:%M UTC"),
        )
    Console(highlight=False, width=None if sys.stdout.isatty() else 160).print(table)
