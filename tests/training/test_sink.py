"""The events stream -> Parquet sink: layout, round trip, no loss or doubles after a crash
whatever the restart's options, and the stream trimmed once every group has acknowledged."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import redis

from recommender.data import load_events
from storage.keys import Keys
from training.sink import GROUP, EventSink, to_frame, write_partitions

EVENTS = [
    {"user_id": "u1", "item_id": "p1", "event": "view", "timestamp": "2026-11-20T23:50:00Z",
     "event_id": "e1"},
    {"user_id": "u1", "item_id": "p1", "event": "purchase", "timestamp": "2026-11-21T00:10:00Z",
     "rec_id": "r1", "event_id": "e2"},
    {"user_id": "u2", "item_id": "p2", "event": "click", "timestamp": "2026-11-21T01:00:00Z"},
    {"user_id": "u3", "item_id": "p3", "event": "cart", "timestamp": "2026-11-21T02:00:00Z",
     "event_id": "e4"},
]


def add(client: redis.Redis, prefix: str, events: list[dict[str, str]]) -> list[str]:
    pipe = client.pipeline()
    for event in events:
        pipe.xadd(Keys(prefix).events(), event)
    return [entry_id.decode() for entry_id in pipe.execute()]


def pending(client: redis.Redis, prefix: str) -> int:
    return int(client.xpending(Keys(prefix).events(), GROUP)["pending"])


def test_partitions_are_local_days_of_the_configured_time_zone(
    redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    ids = add(redis_client, prefix, EVENTS)  # 23:50Z on 11-20 is 07:50 on 11-21 in Shanghai
    EventSink(redis_client, Keys(prefix), tmp_path, batch=10,
              timezone="Asia/Shanghai").run(once=True)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")) == [
        f"date=2026-11-21/part-{ids[0]}.parquet"]


def test_batches_become_date_partitions_that_load_events_reads(
    redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    ids = add(redis_client, prefix, EVENTS)
    stats = EventSink(redis_client, Keys(prefix), tmp_path, batch=3).run(once=True)
    assert (stats.events, stats.batches) == (4, 2)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.parquet")) == [
        f"date=2026-11-20/part-{ids[0]}.parquet",
        f"date=2026-11-21/part-{ids[0]}.parquet",
        f"date=2026-11-21/part-{ids[3]}.parquet",
    ]
    assert not list(tmp_path.rglob("*.tmp"))
    loaded = load_events(tmp_path).frame.sort_values("timestamp", ignore_index=True)
    assert loaded["event_id"].tolist() == ["e1", "e2", ids[2], "e4"]
    assert loaded["event"].tolist() == ["view", "purchase", "click", "cart"]
    assert loaded["rec_id"].isna().tolist() == [True, False, True, True]
    assert loaded["rec_id"][1] == "r1"
    assert loaded["timestamp"].tolist() == [pd.Timestamp(e["timestamp"]) for e in EVENTS]
    assert str(loaded["timestamp"].dt.tz) == "UTC"
    assert pending(redis_client, prefix) == 0
    assert EventSink(redis_client, Keys(prefix), tmp_path).run(once=True).events == 0


def test_a_batch_read_but_never_acknowledged_is_written_on_restart_exactly_once(
    redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    ids = add(redis_client, prefix, EVENTS)
    sink = EventSink(redis_client, Keys(prefix), tmp_path, batch=2)
    sink.ensure_group()
    crashed = sink._read(">", None)  # the batch a crashed sink had read...
    write_partitions(to_frame(crashed), tmp_path, crashed[0][0])  # ...and written, not acked
    assert pending(redis_client, prefix) == 2
    files_before = sorted(tmp_path.rglob("*.parquet"))
    stats = EventSink(redis_client, Keys(prefix), tmp_path, batch=2).run(once=True)
    assert stats.events == 4
    assert set(files_before) <= set(tmp_path.rglob("*.parquet"))  # same names, overwritten
    loaded = load_events(tmp_path).frame
    assert sorted(loaded["event_id"]) == sorted(["e1", "e2", ids[2], "e4"])
    assert pending(redis_client, prefix) == 0


class Killed(Exception):
    """The sink process died."""


class KilledBeforeAck:
    """A client whose sink dies after writing a batch's files, before acknowledging them."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def __getattr__(self, name: str) -> object:
        return getattr(self._client, name)

    def xack(self, *args: object) -> None:
        raise Killed


def many_events(count: int) -> list[dict[str, str]]:
    """Events over three UTC dates, interleaved, so each batch writes several files."""
    days = ["2026-11-19", "2026-11-20", "2026-11-21"]
    return [{"user_id": f"u{i % 7}", "item_id": f"p{i % 5}", "event": "view",
             "timestamp": f"{days[i % 3]}T{i % 24:02d}:00:00Z", "event_id": f"e{i}"}
            for i in range(count)]


def kill_before_ack(client: redis.Redis, prefix: str, out: Path, batch: int,
                    consumer: str = "sink-1") -> None:
    with pytest.raises(Killed):
        EventSink(KilledBeforeAck(client), Keys(prefix), out, batch=batch,  # type: ignore[arg-type]
                  consumer=consumer).run(once=True)


@pytest.mark.parametrize("restart_batch", [1, 3, 7, 25, 1000])
def test_a_restart_with_another_batch_size_writes_each_event_once(
    redis_client: redis.Redis, prefix: str, tmp_path: Path, restart_batch: int
) -> None:
    events = many_events(40)
    add(redis_client, prefix, events)
    kill_before_ack(redis_client, prefix, tmp_path, batch=12)  # 12 events written, not acked
    kill_before_ack(redis_client, prefix, tmp_path, batch=5)  # killed again while re-writing
    assert pending(redis_client, prefix) == 12
    stats = EventSink(redis_client, Keys(prefix), tmp_path, batch=restart_batch).run(once=True)
    assert stats.events == 40 and stats.rewritten >= 1
    loaded = load_events(tmp_path).frame  # strict: a doubled event_id would be an error
    assert sorted(loaded["event_id"]) == sorted(e["event_id"] for e in events)
    assert pending(redis_client, prefix) == 0


def test_a_restart_under_another_consumer_takes_over_what_the_dead_one_left(
    redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    events = many_events(30)
    add(redis_client, prefix, events)
    kill_before_ack(redis_client, prefix, tmp_path, batch=10, consumer="sink-1")
    stats = EventSink(redis_client, Keys(prefix), tmp_path, batch=4, consumer="sink-2",
                      claim_idle_ms=0).run(once=True)
    assert (stats.claimed, stats.events) == (10, 30)
    loaded = load_events(tmp_path).frame
    assert sorted(loaded["event_id"]) == sorted(e["event_id"] for e in events)
    assert pending(redis_client, prefix) == 0


def node_size(client: redis.Redis) -> int:
    """Entries per stream node: approximate trimming removes whole nodes."""
    return int(client.config_get("stream-node-max-entries")["stream-node-max-entries"])


def test_the_sink_trims_the_stream_it_has_acknowledged(
    redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    node = node_size(redis_client)
    add(redis_client, prefix, many_events(10 * node))
    stats = EventSink(redis_client, Keys(prefix), tmp_path, batch=node // 2).run(once=True)
    assert stats.events == 10 * node
    assert stats.trimmed >= 9 * node
    assert redis_client.xlen(Keys(prefix).events()) <= node


def _order(stream_id: str) -> tuple[int, int]:
    """A stream id as Redis orders them (``"5-77"`` before ``"5-114"``)."""
    milliseconds, sequence = stream_id.split("-")
    return int(milliseconds), int(sequence)


def test_the_stream_keeps_what_another_group_still_needs(
    redis_client: redis.Redis, prefix: str, tmp_path: Path
) -> None:
    stream, node = Keys(prefix).events(), node_size(redis_client)
    ids = add(redis_client, prefix, many_events(10 * node))
    redis_client.xgroup_create(stream, "attribution", id="0")
    redis_client.xreadgroup("attribution", "a-1", {stream: ">"}, count=3 * node)
    redis_client.xack(stream, "attribution", *ids[: 2 * node])  # pending from ids[2 * node]
    EventSink(redis_client, Keys(prefix), tmp_path / "a", batch=node).run(once=True)
    kept = [entry.decode() for entry, _ in redis_client.xrange(stream)]
    assert _order(kept[0]) <= _order(ids[2 * node]) and kept[-1] == ids[-1]
    assert len(kept) >= 8 * node

    redis_client.xreadgroup("attribution", "a-1", {stream: ">"}, count=7 * node)
    redis_client.xack(stream, "attribution", *ids)  # read, all acknowledged up to ids[-1]
    add(redis_client, prefix, many_events(2 * node))
    EventSink(redis_client, Keys(prefix), tmp_path / "b", batch=node).run(once=True)
    assert redis_client.xlen(stream) <= 3 * node  # the sink is further: ids[-1] is the floor


def _sink(redis_url: str, config: Path, out: Path, log: Path, *extra: str, batch: int = 50
          ) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "recsys_cli.main", "events", "sink", "--out", str(out),
               "--batch", str(batch), "--config", str(config), *extra]
    env = {**os.environ, "RECSYS_REDIS_URL": redis_url}
    with open(log, "wb") as handle:
        return subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)


def test_killing_the_sink_mid_run_loses_and_doubles_nothing(
    redis_client: redis.Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    config = tmp_path / "recsys.toml"
    config.write_text(f'[serving]\nprefix = "{prefix}"\n')
    out = tmp_path / "events"
    days = pd.date_range("2026-11-18", periods=3000, freq="90s", tz="UTC")
    events = [{"user_id": f"u{i % 97}", "item_id": f"p{i % 31}", "event": "view",
               "timestamp": day.isoformat(), "event_id": f"e{i}"} for i, day in enumerate(days)]
    add(redis_client, prefix, events)
    log = tmp_path / "sink.log"
    process = _sink(redis_url, config, out, log, "--block-ms", "100")
    deadline = time.monotonic() + 60
    while len(list(out.rglob("*.parquet"))) < 5:
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    written_at_kill = len(list(out.rglob("*.parquet")))
    assert written_at_kill < 60  # 3000 events in batches of 50: killed well before the end
    restarted = _sink(redis_url, config, out, log, "--once", batch=37)
    assert restarted.wait(timeout=120) == 0, log.read_text()
    loaded = load_events(out).frame
    assert len(loaded) == 3000
    assert sorted(loaded["event_id"]) == sorted(e["event_id"] for e in events)
    assert pending(redis_client, prefix) == 0
    assert " events in " in log.read_text()
