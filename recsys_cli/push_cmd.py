"""``recsys push``: batch push lists from the published version."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.common import ConfigOpt, echo_err, fail, guarded
from recsys_cli.storage_opts import PrefixOpt, RedisUrlOpt, open_storage

app = typer.Typer(help="Pushes: who gets which items at which slot.", no_args_is_help=True)


@app.command(
    "plan",
    help="Write the push list of one slot and day as JSON Lines (user_id, slot, send_at, "
    "items, rec_id): users with affinity to the slot, top slot items, the daily cap and the "
    "7-day no-repeat rule applied and the planned pushes recorded in Redis (so the API agrees). "
    "Running it again for the same slot and day writes the users already planned with their "
    "recorded items (not recorded twice) and plans only the others; --dry-run records nothing."
    "\n\nExample: recsys push plan --slot breakfast --date 2026-11-21 --out plan.jsonl",
)
@guarded
def plan(
    slot: Annotated[str, typer.Option("--slot", help="A push slot of the config, e.g. breakfast.")],
    day: Annotated[str, typer.Option("--date", help="Local date, YYYY-MM-DD.")],
    out: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")],
    model: Annotated[
        str | None, typer.Option("--model", help="Model name (default: the default model, "
                                 "as serving without RECSYS_MODEL_NAME).")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Write the plan without recording it in Redis.")
    ] = False,
    config: ConfigOpt = None,
    redis_url: RedisUrlOpt = None,
    prefix: PrefixOpt = None,
) -> None:
    import orjson

    from training.push_plan import plan as plan_pushes

    try:
        when = date.fromisoformat(day)
    except ValueError:
        fail(f"--date: expected YYYY-MM-DD, got {day!r}")
    client, keys, _ = open_storage(config, redis_url, prefix)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as handle:
        stats = plan_pushes(
            client, keys, slot, when,
            lambda line: handle.write(orjson.dumps(line) + b"\n"), model=model,
            progress=lambda users: echo_err(f"… {users:,} users read"), record=not dry_run,
        )
    planned = "would be planned (dry run: nothing recorded)" if dry_run else "planned"
    again = (f", {stats.again:,} already planned by an earlier run (written again, not "
             "recorded twice)" if stats.again else "")
    typer.echo(f"{stats.planned:,} pushes {planned} for {slot} on {day} -> {out} "
               f"({stats.users:,} users, {stats.affine:,} with affinity{again}, "
               f"{stats.capped:,} at the daily cap, {stats.empty:,} with no item left)")
