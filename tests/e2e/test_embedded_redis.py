"""The embedded Redis: a real server under .recsys/, reused and persistent across restarts."""

from pathlib import Path

import redis

from recsys_cli import embedded_redis


def test_embedded_redis_is_reused_and_keeps_data_across_a_restart(tmp_path: Path) -> None:
    root = tmp_path / ".recsys"
    first = embedded_redis.ensure_running(root)
    try:
        assert first.started
        again = embedded_redis.ensure_running(root)
        assert not again.started and again.url == first.url
        client = redis.Redis.from_url(first.url)
        client.set("recsys:test:kept", "yes")
        assert embedded_redis.stop(root)
        assert not embedded_redis.stop(root)
        restarted = embedded_redis.ensure_running(root)
        assert restarted.started
        assert redis.Redis.from_url(restarted.url).get("recsys:test:kept") == b"yes"
        assert (root / "redis" / "appendonly.aof").exists() or (
            root / "redis" / "appendonlydir"
        ).exists()
    finally:
        embedded_redis.stop(root)


def test_configured_url_wins_over_the_embedded_server(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RECSYS_REDIS_URL", "redis://example.invalid:1/3")
    assert embedded_redis.redis_url(tmp_path) == "redis://example.invalid:1/3"
    assert not (tmp_path / "redis").exists()
