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


def run_plan(client: redis.Redis, prefix: str, slot: str = "breakfast", day: date = DAY,
             record: bool = True) -> tuple[list[dict[str, Any]], Any]:
    lines: list[dict[str, Any]] = []
    stats = plan(client, Keys(prefix), slot, day, lines.append, record=record)
    return lines, stats


def without_rec_ids(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k != "rec_id"} for line in lines]


U1_PLAN = [{"user_id": "u1", "slot": "breakfast", "send_at": "2026-11-21T06:30:00+08:00",
            "items": ["p1", "pnew"]}]


def test_the_plan_lists_affine_users_with_their_items_and_records_them(
    redis_client: redis.Redis, prefix: str
) -> None:
    publish_shop(redis_client, prefix)
    lines, stats = run_plan(redis_client, prefix)
    assert without_rec_ids(lines) == U1_PLAN
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


def test_a_dry_run_writes_the_plan_and_records_nothing(
    redis_client: redis.Redis, prefix: str
) -> None:
    publish_shop(redis_client, prefix)
    dry, stats = run_plan(redis_client, prefix, record=False)
    assert without_rec_ids(dry) == U1_PLAN and stats.planned == 1
    keys = Keys(prefix)
    assert redis_client.exists(keys.push_count("u1", "2026-11-21"), keys.pushed("u1")) == 0
    real, _ = run_plan(redis_client, prefix)
    assert without_rec_ids(real) == U1_PLAN


def test_planning_the_same_slot_and_day_again_writes_the_same_plan_and_records_it_once(
    redis_client: redis.Redis, prefix: str
) -> None:
    publish_shop(redis_client, prefix)
    first, _ = run_plan(redis_client, prefix)
    for record in (True, False):
        again, stats = run_plan(redis_client, prefix, record=record)
        assert without_rec_ids(again) == without_rec_ids(first) == U1_PLAN
        assert (stats.planned, stats.again, stats.empty, stats.capped) == (0, 1, 0, 0)
    assert redis_client.get(Keys(prefix).push_count("u1", "2026-11-21")) == b"1"


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
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 0, again.output
    assert ("0 pushes planned for breakfast on 2026-11-21" in again.output
            and "1 already planned by an earlier run (written again, not recorded twice)"
            in again.output)
    assert [json.loads(line)["user_id"] for line in out.read_text().splitlines()] == ["u1"]
    wrong = runner.invoke(app, [*args[:3], "dinner", *args[4:]], env=env)
    assert wrong.exit_code == 2
    assert "unknown push slot 'dinner'; push slots: breakfast" in wrong.output


def test_the_command_has_a_dry_run(
    redis_client: redis.Redis, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    publish_shop(redis_client, prefix)
    out = tmp_path / "plan.jsonl"
    result = CliRunner().invoke(app, [
        "push", "plan", "--slot", "breakfast", "--date", "2026-11-21", "--out", str(out),
        "--dry-run", "--redis-url", redis_url, "--prefix", prefix])
    assert result.exit_code == 0, result.output
    assert ("1 pushes would be planned (dry run: nothing recorded) for breakfast on 2026-11-21"
            in result.output)
    assert [json.loads(line)["items"] for line in out.read_text().splitlines()] == [
        ["p1", "pnew"]]
    assert redis_client.exists(Keys(prefix).pushed("u1")) == 0
