"""``recsys events``: moving the events stream of ``POST /v1/events`` to Parquet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from recsys_cli.common import ConfigOpt, echo_err, guarded
from recsys_cli.storage_opts import PrefixOpt, RedisUrlOpt, open_storage

app = typer.Typer(help="The events sent to POST /v1/events.", no_args_is_help=True)


@app.command(
    "sink",
    help="Write the events stream to Parquet partitioned by local date in [rules] timezone "
    "(DIR/date=YYYY-MM-DD/, the days of `recsys report ops`), "
    "acknowledging each batch only once its files are safely on disk; a restarted sink "
    "writes its unacknowledged batch again, replacing what it had written of it, so no event is "
    "lost or doubled whatever --batch or --consumer the restart is given. Entries every consumer "
    "group has acknowledged are trimmed from the stream. "
    "`recsys train --events DIR` reads the result.\n\n"
    "Example: recsys events sink --out data/events --once",
)
@guarded
def sink(
    out: Annotated[Path, typer.Option("--out", help="Directory of the Parquet partitions.")],
    batch: Annotated[int, typer.Option("--batch", min=1, help="Events per batch and file.")] = 1000,
    block_ms: Annotated[
        int, typer.Option("--block-ms", min=0, help="How long one read waits for new events.")
    ] = 2000,
    once: Annotated[
        bool, typer.Option("--once", help="Write what is there, then exit (for cron and tests).")
    ] = False,
    consumer: Annotated[
        str, typer.Option("--consumer", help="Consumer name; entries another consumer left "
                          "pending for a minute are taken over.")
    ] = "sink-1",
    config: ConfigOpt = None,
    redis_url: RedisUrlOpt = None,
    prefix: PrefixOpt = None,
) -> None:
    from training.sink import EventSink, SinkStats

    client, keys, cfg = open_storage(config, redis_url, prefix)

    def progress(stats: SinkStats) -> None:
        echo_err(f"… {stats.events:,} events in {len(stats.files):,} files")

    runner = EventSink(client, keys, out, batch=batch, timezone=cfg.rules.timezone,
                       block_ms=block_ms, consumer=consumer, progress=progress)
    try:
        stats = runner.run(once=once)
    except KeyboardInterrupt:
        echo_err("stopped; unacknowledged events are written again on the next start")
        raise typer.Exit(130) from None
    typer.echo(f"wrote {stats.events:,} events in {len(stats.files):,} files under {out}; "
               f"trimmed {stats.trimmed:,} entries from the stream")
    if stats.claimed or stats.rewritten:
        echo_err(f"took over {stats.claimed:,} entries left by other consumers; replaced "
                 f"{stats.rewritten:,} files of unacknowledged batches")
