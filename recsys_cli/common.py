"""Options and helpers shared by the commands."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, redirect_stdout
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer

from recommender.errors import RecommenderError

T = TypeVar("T")
Step = Callable[[str], AbstractContextManager[object]]
"""Progress hook: ``with step("fitting als"):`` wraps each long step."""

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="recsys.toml to read (default: ./recsys.toml if present)."),
]
SkipInvalidOpt = Annotated[
    bool, typer.Option("--skip-invalid", help="Drop bad rows and report counts instead of failing.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")]


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@contextmanager
def friendly_errors() -> Iterator[None]:
    """Turn library errors into a clear message and exit code 2 instead of a traceback; the
    command returns only once its tracking worker (``open_tracking_early``) is done."""
    try:
        yield
    except RecommenderError as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(f"{exc.filename or exc}: no such file or directory")
    finally:
        _wait_for_tracking()


def guarded(func: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of ``friendly_errors`` for command functions."""
    import functools

    @functools.wraps(func)
    def wrapper(*args: object, **kwargs: object) -> T:
        with friendly_errors():
            return func(*args, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def option_weights(text: str | None, configured: dict[str, float]) -> dict[str, float]:
    """``--weights`` over the ``[events] weights`` of ``recsys.toml``; a bad pair names the flag."""
    from recommender.config import parse_weights

    if not text:
        return dict(configured)
    try:
        return parse_weights(text, configured)
    except RecommenderError as exc:
        fail(f"--weights: {exc}")


def resolve_config_path(path: Path | None) -> Path | None:
    if path is not None:
        return path
    default = Path("recsys.toml")
    return default if default.exists() else None


def echo_err(message: str) -> None:
    print(message, file=sys.stderr)


@contextmanager
def mlflow_session() -> Iterator[str]:
    """Tracking configured, MLflow's chatter kept off stdout, its errors turned into messages."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    from mlflow.exceptions import MlflowException

    from training.tracking import configure_tracking

    try:
        with redirect_stdout(sys.stderr):
            yield configure_tracking()
    except MlflowException as exc:
        fail(f"MLflow: {exc.message}")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a job imports MLflow and prepares its data.

    Those phases create about a million long-lived objects (modules, classes, functions); each
    full collection walks all of them with the GIL held, which stalls both threads (~0.3 s in
    all on ``recsys train``). On leaving, what exists is frozen out of later collections and
    the collector is turned back on.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


def open_tracking_early(experiment: str) -> None:
    """Import MLflow, point it at the store and open ``experiment`` on a worker thread.

    A training command calls this before it reads its events: MLflow's import (~0.8 s) and, on
    a first run, the creation of a SQLite store's tables (~1.3 s) then happen while the events
    are read and prepared.
    The job's own ``configure_tracking``/``ensure_experiment`` find the store ready (they wait
    for the worker and never create an experiment twice) and raise any error the worker met.
    The interpreter waits for the worker before it exits, so a failing read never leaves a
    half-created store behind.
    """
    # What the command imports while the worker runs, imported first: two threads never import
    # the same modules at once (circular imports could deadlock them).
    import recommender.data  # noqa: F401
    import training.job_data  # noqa: F401

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recsys-tracking")
    _TRACKING_WORKERS.append(pool.submit(_open_tracking, experiment))
    pool.shutdown(wait=False)


_TRACKING_WORKERS: list[Future[None]] = []


def _wait_for_tracking() -> None:
    """Wait for the workers ``open_tracking_early`` started. A command whose read fails ends
    before its worker has created the store's tables; in a process that goes on (the tests'
    ``CliRunner``) the worker would otherwise go on importing MLflow and writing the store
    beside whatever runs next. Its errors are the job's to raise (``configure_tracking``)."""
    while _TRACKING_WORKERS:
        wait([_TRACKING_WORKERS.pop()])


def _open_tracking(experiment: str) -> None:
    from training.tracking import configure_tracking, ensure_experiment

    ensure_experiment(experiment, configure_tracking())
    # Two one-off costs of MLflow, paid here instead of on the job's path: start_run imports
    # IPython (where installed) to look for Databricks (~0.2 s), and log_model maps every
    # installed package to its modules to check the model's requirements (~0.2 s, cached).
    if importlib.util.find_spec("IPython") is not None:
        importlib.import_module("IPython")
    from mlflow.utils import requirements_utils

    warm_up = getattr(requirements_utils, "_init_packages_to_modules_map", None)
    if warm_up is not None:  # a private helper of MLflow 3; skipped if it ever goes
        warm_up()


def stepper() -> Step:
    """A progress hook: a spinner while a step runs, then its time, all on stderr."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)

    @contextmanager
    def step(message: str) -> Iterator[None]:
        started = time.perf_counter()
        with console.status(message):
            yield
        seconds = time.perf_counter() - started
        console.print(f"[green]✓[/green] {message} [dim]({seconds:.1f} s)[/dim]")

    return step
