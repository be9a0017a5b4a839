"""Entry point of the ``recsys`` command: one Typer app, each group in a module of its own."""

from __future__ import annotations

import gc

import typer

from recsys_cli import (
    ab_cmd,
    data_cmd,
    demo_cmd,
    evaluate_cmd,
    events_cmd,
    push_cmd,
    redis_cmd,
    report_cmd,
    serve_cmd,
    train_cmd,
)

app = typer.Typer(
    name="recsys",
    help="Recommendations, pushes and A/B tests for mini-program businesses.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.add_typer(data_cmd.app, name="data")
evaluate_cmd.register(app)
train_cmd.register(app)
serve_cmd.register(app)
demo_cmd.register(app)
app.add_typer(redis_cmd.app, name="redis")
app.add_typer(events_cmd.app, name="events")
app.add_typer(push_cmd.app, name="push")
app.add_typer(ab_cmd.app, name="ab")
app.add_typer(report_cmd.app, name="report")


def main() -> None:
    """The ``recsys`` console script: the app, then a quick exit.

    Before the interpreter tears down, every object is frozen out of the garbage collector: its
    final collections over MLflow's modules and a job's arrays cost ~0.8 s otherwise. Exit
    handlers still run and every object is still released.
    """
    try:
        app()
    finally:
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()
