"""``recsys push plan`` on the test shop where u1 (a breakfast regular) bought only p0."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from recommender.errors import ConfigError
from recsys_cli.main import app
from storage.keys import Keys
from tests.serving.test_push import publish_shop
from training.push_plan import plan

DAY = date(2026, 11, 21)


def run_plan(client: redis.Redis, prefix: str, slot: str = "breakfast", day: date = DAY
             ) -> tuple[list[dict[str, Any]], Any]:
    lines: list[dict[str, Any]] = []
    stats = plan(client, Keys(prefix), slot, day, lines.append)
    return lines, stats


def test_the_plan_lists_affine_users_with_their_items_and_records_them(
    redis_client: redis.Redis, prefix: str
) -> None:
    publish_shop(redis_client, prefix)
    lines, stats = run_plan(redis_client, prefix)
    assert [{k: v for k, v in line.items() if k != "rec_id"} for line in lines] == [
        {"user_id": "u1", "slot": "breakfast", "send_at": "2026-11-21T06:30:00+08:00",
         "items": ["p1", "pnew"]},
    ]
    assert len(lines[0]["rec_id"]) == 32
    assert (stats.users, stats.affine, stats.planned) == (3, 1, 1)
    keys = Keys(prefix)
    assert redis_client.get(keys.push_count("u1", "2026-11-21")) == b"1"
    assert sorted(redis_client.zrange(keys.pushed("u1"), 0, -1)) == [b"p1", b"pnew"]
    # planned again the same week: the items were pushed, nothing is left to push
    again, stats = run_plan(redis_client, prefix, day=date(2026, 11, 25))
    assert again == [] and (stats.affine, stats.empty) == (1, 1)
    # eight days later they may be pushed again
    later, _ = run_plan(redis_client, prefix, day=date(2026, 11, 29))
    assert [line["items"] for line in later] == [["p1", "pnew"]]


def test_the_plan_respects_the_daily_cap(redis_client: redis.Redis, prefix: str) -> None:
    publish_shop(redis_client, prefix, max_per_user_per_day=1)
    redis_client.set(Keys(prefix).push_count("u1", "2026-11-21"), 1)
    lines, stats = run_plan(redis_client, prefix)
    assert lines == [] and stats.capped == 1


def test_an_unknown_slot_lists_the_push_slots(redis_client: redis.Redis, prefix: str) -> None:
    publish_shop(redis_client, prefix)
    with pytest.raises(ConfigError, match=r"unknown push slot 'lunch'; push slots: breakfast"):
        run_plan(redis_client, prefix, slot="lunch")


def test_the_command_writes_json_lines(
    redis_client: redis.Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    publish_shop(redis_client, prefix)
    config = tmp_path / "recsys.toml"
    config.write_text(f'[serving]\nprefix = "{prefix}"\n')
    out = tmp_path / "plan.jsonl"
    runner = CliRunner()
    env = {"RECSYS_REDIS_URL": redis_url}
    args = ["push", "plan", "--slot", "breakfast", "--date", "2026-11-21", "--out", str(out),
            "--config", str(config)]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "1 pushes planned for breakfast on 2026-11-21" in result.output
    assert [json.loads(line)["user_id"] for line in out.read_text().splitlines()] == ["u1"]
    wrong = runner.invoke(app, [*args[:3], "dinner", *args[4:]], env=env)
    assert wrong.exit_code == 2
    assert "unknown push slot 'dinner'; push slots: breakfast" in wrong.output
