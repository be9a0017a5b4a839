"""``recsys ab start/stop/list/report`` on a real MLflow registry and the real Redis (db 15)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from typer.testing import CliRunner

from recommender.config import DEFAULT_WEIGHTS
from recommender.errors import ConfigError
from recommender.synth import SynthData
from recsys_cli.main import app
from storage.connect import connect
from storage.keys import Keys, ab_field, published_field
from tests.conftest import delete_prefix
from training.experiments import VariantSpec
from training.registry import promote
from training.spec import TrainSpec
from training.train import train

AB_DB = 15
POP = TrainSpec(model="pop", weights=dict(DEFAULT_WEIGHTS), half_life_days=30.0)
ALS = TrainSpec(model="als", params={"factors": 8, "iterations": 3},
                weights=dict(DEFAULT_WEIGHTS), half_life_days=30.0)


@pytest.fixture(scope="module")
def registered(shop: SynthData, mlflow_store: str) -> str:
    """Version 1 (pop) is the champion, version 2 (als) the challenger."""
    name = f"ab-{uuid.uuid4().hex[:8]}"
    for spec in (POP, ALS):
        train(shop.events, spec, experiment="ab-tests", register=name)
    promote(name, "1", "champion")
    promote(name, "2", "challenger", force=True)
    return name


@pytest.fixture
def ab_redis(redis_url_for: Callable[[int], str], tmp_path: Path,
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[redis.Redis, Keys, Path]]:
    """Redis db 15 under a prefix of this test, and a recsys.toml that names the prefix."""
    url, prefix = redis_url_for(AB_DB), f"test:ab:{uuid.uuid4().hex[:12]}:"
    monkeypatch.setenv("RECSYS_REDIS_URL", url)
    config = tmp_path / "recsys.toml"
    config.write_text(f'[serving]\nprefix = "{prefix}"\n')
    client = connect(url)
    yield client, Keys(prefix), config
    delete_prefix(client, prefix)
    client.close()


def recsys(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    return result.exit_code, result.stdout, result.stderr


def ttl_of_namespace(client: redis.Redis, keys: Keys, namespace: str) -> int:
    return int(client.ttl(keys.version(namespace).meta()))


def test_variant_specs_parse_name_reference_and_weight() -> None:
    assert VariantSpec.parse("treatment=products@challenger:30") == VariantSpec(
        "treatment", "products@challenger", 30.0)
    assert VariantSpec.parse("a=products/4") == VariantSpec("a", "products/4", 1.0)
    with pytest.raises(ConfigError, match="NAME=MODEL@ALIAS:WEIGHT"):
        VariantSpec.parse("products@champion")


def test_start_publishes_the_challenger_first_and_stop_lets_it_expire(
    registered: str, ab_redis: tuple[redis.Redis, Keys, Path]
) -> None:
    client, keys, config = ab_redis
    code, _, err = recsys("publish", f"{registered}@champion", "--config", config)
    assert code == 0, err
    live_before = client.hget(keys.live(), registered).decode()

    code, out, err = recsys(
        "ab", "start", "pop-vs-als", "--variant", f"control={registered}@champion:50",
        "--variant", f"treatment={registered}@challenger:50", "--kind", "product",
        "--config", config, "--json")
    assert code == 0, err
    record = json.loads(out)
    variants = {v["name"]: v for v in record["variants"]}
    assert (variants["control"]["version"], variants["treatment"]["version"]) == ("1", "2")
    assert variants["control"]["namespace"] == live_before  # already published: reused
    challenger = variants["treatment"]["namespace"]
    assert record["published_now"] == [challenger] and challenger.startswith(f"{registered}:2:")
    assert client.hget(keys.live(), registered).decode() == live_before  # not made live
    assert client.hget(keys.published(), published_field(registered, "2")).decode() == challenger
    assert {m.decode() for m in client.smembers(keys.pinned())} == {live_before, challenger}
    assert ttl_of_namespace(client, keys, challenger) == -1  # pinned: no expiry while it runs

    # A new champion goes live during the experiment: the pinned old one does not expire.
    promote(registered, "2", "champion", force=True)
    assert recsys("publish", f"{registered}@champion", "--config", config)[0] == 0
    assert ttl_of_namespace(client, keys, live_before) == -1

    code, out, _ = recsys("ab", "list", "--config", config, "--json")
    assert code == 0 and [(r["name"], r["status"]) for r in json.loads(out)] == [
        ("pop-vs-als", "running")]

    code, out, err = recsys("ab", "stop", "pop-vs-als", "--config", config)
    assert code == 0, err
    assert "stopped experiment pop-vs-als" in out
    assert client.smembers(keys.pinned()) == set()
    for namespace in (live_before, challenger):  # neither live nor used: the usual 7 days
        assert 6 * 86_400 < ttl_of_namespace(client, keys, namespace) <= 7 * 86_400
    live_now = client.hget(keys.live(), registered).decode()
    assert ttl_of_namespace(client, keys, live_now) == -1
    code, _, err = recsys("ab", "stop", "pop-vs-als", "--config", config)
    assert code == 2 and "already stopped" in err
    promote(registered, "1", "champion", force=True)


def test_start_refuses_a_missing_alias_and_an_overlapping_experiment(
    registered: str, ab_redis: tuple[redis.Redis, Keys, Path]
) -> None:
    client, keys, config = ab_redis
    code, _, err = recsys("ab", "start", "bad", "--variant", f"control={registered}@champion",
                          "--variant", f"treatment={registered}@nope", "--config", config)
    assert code == 2
    assert f"model '{registered}' has no version with alias 'nope'" in err
    assert f"recsys promote {registered} --version V --alias nope" in err
    assert client.hlen(keys.experiments()) == 0

    start = ("ab", "start", "--variant", f"a={registered}@champion", "--variant",
             f"b={registered}@challenger", "--config", config)
    assert recsys(*start[:2], "first", *start[2:], "--kind", "product")[0] == 0
    code, _, err = recsys(*start[:2], "second", *start[2:])  # every kind: overlaps product
    assert code == 2 and "experiment 'first' already splits product traffic" in err
    assert recsys(*start[:2], "third", *start[2:], "--kind", "content")[0] == 0


def _record(name: str, started: datetime) -> dict[str, Any]:
    return {"name": name, "status": "running", "control": "control", "kinds": [],
            "started_at": started.isoformat(), "stopped_at": None,
            "variants": [{"name": v, "weight": 1.0, "ref": f"shop/{i}", "model": "shop",
                          "version": str(i), "namespace": f"shop:{i}:x"}
                         for i, v in ((1, "control"), (2, "treatment"))]}


def test_report_reads_the_counts_and_gives_hand_computed_figures(
    ab_redis: tuple[redis.Redis, Keys, Path]
) -> None:
    client, keys, config = ab_redis
    now = datetime.now(UTC)
    yesterday, today = (now - timedelta(days=1)).date().isoformat(), now.date().isoformat()
    client.hset(keys.experiments(), "hand", json.dumps(_record("hand", now - timedelta(days=1))))
    # control 1000 impressions / 50 clicks / 10 purchases over two days; treatment 1000/70/12.
    for day, variant, impressions, clicks, purchases in (
        (yesterday, "control", 400, 20, 4), (today, "control", 600, 30, 6),
        (today, "treatment", 1000, 70, 12),
    ):
        for metric, count in (("impressions", impressions), ("click", clicks),
                              ("purchase", purchases)):
            client.hincrby(keys.ab_counts("hand", day), ab_field(metric, variant), count)
    client.pfadd(keys.ab_users("hand", "control"), *[f"u{i}" for i in range(100)])
    client.pfadd(keys.ab_users("hand", "treatment"), *[f"u{i}" for i in range(100, 190)])

    code, out, err = recsys("ab", "report", "hand", "--metric", "ctr", "--json",
                            "--config", config)
    assert code == 0, err
    body = json.loads(out)
    control, treatment = body["variants"]
    users = [variant["counts"].pop("users") for variant in (control, treatment)]
    assert users == pytest.approx([100, 90], abs=2)  # HyperLogLog: an estimate within ~1%
    assert control["counts"] == {"impressions": 1000, "clicks": 50, "carts": 0, "purchases": 10}
    assert treatment["counts"]["clicks"] == 70
    # Wilson 50/1000: centre (0.05 + 1.920730/1000) / 1.003841 = 0.0517212,
    # half 1.959964 * sqrt(0.0000475 + 0.00000096036) / 1.003841 = 0.0135918.
    assert control["ctr"]["value"] == 0.05
    assert control["ctr"]["low"] == pytest.approx(0.038129, abs=2e-6)
    assert control["ctr"]["high"] == pytest.approx(0.065313, abs=2e-6)
    # 50 vs 70 in 1000: pooled 0.06, z = 0.02 / 0.0106207 = 1.88312, p = 0.05969;
    # uplift 0.4 with the log-ratio interval [-0.01558, 0.99101].
    versus = treatment["vs_control"]["ctr"]
    assert versus["p_value"] == pytest.approx(0.05969, abs=5e-5)
    assert (versus["uplift"], versus["low"], versus["high"]) == pytest.approx(
        (0.4, -0.01558, 0.99101), abs=5e-5)
    assert body["verdict"].startswith("not enough data: about")
    assert set(body["days"]) == {yesterday, today}

    code, out, _ = recsys("ab", "report", "hand", "--metric", "ctr", "--config", config)
    assert code == 0 and "verdict (ctr): not enough data: about" in out
    assert "5.00% [3.81%, 6.53%]" in out
    code, _, err = recsys("ab", "report", "nope", "--config", config)
    assert code == 2 and "no experiment 'nope'" in err
