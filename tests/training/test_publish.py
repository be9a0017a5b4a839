"""publish_version: what it writes, how it goes live, and what a failed publish leaves."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import redis
from scipy import sparse
from typer.testing import CliRunner

from recommender.matrix import IdMap, Interactions
from recsys_cli.main import app
from storage.codec import decode_list, decode_profile
from storage.errors import NoLiveModel
from storage.keys import Keys, bucket_of
from storage.live import Pointers, read_live, read_pointers, set_default
from storage.writer import make_live
from tests.serving import world
from training.publish import PublishStats, publish_version


def _live(client: redis.Redis, prefix: str) -> dict[bytes, bytes]:
    return client.hgetall(Keys(prefix).live())


def _members(client: redis.Redis, prefix: str, namespace: str) -> set[str]:
    return {k.decode() for k in client.smembers(Keys(prefix).version(namespace).members())}


def test_publish_writes_the_documented_layout_and_goes_live(
    redis_client: redis.Redis, prefix: str
) -> None:
    stats = world.publish(redis_client, prefix)
    keys = Keys(prefix).version(stats.namespace)
    assert _live(redis_client, prefix) == {b"shop": stats.namespace.encode()}
    assert stats.namespace.startswith("shop:1:") and stats.previous is None
    assert (stats.users, stats.items) == (3, 9)

    meta = json.loads(redis_client.get(keys.meta()))
    assert (meta["name"], meta["version"], meta["top_n"], meta["model_items"]) == ("shop", "1",
                                                                                  100, 8)
    assert meta["kinds"] == ["product", "content"]
    assert meta["slot_lists"] == {"product": ["breakfast"], "content": []}
    assert meta["categories"] == ["articles", "breakfast", "lunch", "snacks"]
    assert meta["rules"]["timezone"] == "Asia/Shanghai"

    b = bucket_of("u0", meta["user_buckets"])
    own = decode_list(redis_client.hget(keys.recs("product", b), "u0"))
    assert own.items.tolist() == [2, 3, 0, 1]  # p2 p3 p0 p1: unseen, available products
    assert own.scores == pytest.approx([0.9, 0.8, 0.5, 0.3], abs=0.002)
    slot = decode_list(redis_client.hget(keys.slot("product", "breakfast", b), "u0"))
    assert slot.items.tolist() == [0, 1]
    profile = decode_profile(redis_client.hget(keys.profile(b), "u0"))
    assert profile.categories.tolist() == [3] and profile.seen.tolist() == [4]  # snacks; p4
    assert profile.shares == pytest.approx([1.0])

    similar = redis_client.hget(keys.similar(bucket_of("p0", meta["item_buckets"])), "p0")
    assert decode_list(similar).items.tolist() == [1, 4, 2, 3]
    popular = redis_client.hgetall(keys.popular())
    assert decode_list(popular[b"product:any"]).items.tolist() == [1, 4, 0]
    assert decode_list(popular[b"product:breakfast"]).items.tolist() == [1, 0, 4]
    assert decode_list(popular[b"content:any"]).items.tolist() == [6]
    new = redis_client.hgetall(keys.new_items())
    assert list(new) == [b"breakfast"] and decode_list(new[b"breakfast"]).items.tolist() == [8]

    items = pa.ipc.open_stream(redis_client.get(keys.items())).read_all().to_pydict()
    assert items["item_id"] == [*world.ITEMS, "pnew"]
    assert items["available"][5] is False and items["slot:breakfast"][:2] == [True, True]
    assert items["created_at"][8] == pd.Timestamp(world.NOW - pd.Timedelta(days=1))
    users = pa.ipc.open_stream(redis_client.get(keys.users())).read_all()
    assert users.column("user_id").to_pylist() == world.USERS

    members = _members(redis_client, prefix, stats.namespace)
    assert stats.keys == len(members)  # the members set lists itself too
    assert all(redis_client.ttl(key) == -1 for key in members)  # live: no expiry
    assert set(redis_client.scan_iter(match=f"{prefix}v:*")) == {k.encode() for k in members}
    assert stats.bytes > 0 and stats.list_bytes > 0


def test_a_new_publish_supersedes_the_old_which_expires_and_can_be_rolled_back(
    redis_client: redis.Redis, prefix: str
) -> None:
    first = world.publish(redis_client, prefix, version="1")
    second = world.publish(redis_client, prefix, version="2", retain_seconds=3600)
    assert second.previous == first.namespace
    assert _live(redis_client, prefix) == {b"shop": second.namespace.encode()}
    old = _members(redis_client, prefix, first.namespace)
    assert old and all(0 < redis_client.ttl(key) <= 3600 for key in old)
    assert all(redis_client.ttl(k) == -1 for k in _members(redis_client, prefix, second.namespace))

    replaced = make_live(redis_client, Keys(prefix), "shop", first.namespace, retain_seconds=60)
    assert replaced == second.namespace
    assert _live(redis_client, prefix) == {b"shop": first.namespace.encode()}
    assert all(redis_client.ttl(key) == -1 for key in old)
    assert all(0 < redis_client.ttl(k) <= 60
               for k in _members(redis_client, prefix, second.namespace))


class _Failing(world.FixedScores):
    """Fails on the last user (``u2``), after the lists of the others were written."""

    def recommend(self, userid: Any, user_items: Any, N: int = 10, **kwargs: Any) -> Any:
        if 2 in np.atleast_1d(userid):
            raise RuntimeError("killed mid-publish")
        return super().recommend(userid, user_items, N, **kwargs)


def test_an_interrupted_publish_leaves_the_live_version_and_expires_its_own_keys(
    redis_client: redis.Redis, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = world.publish(redis_client, prefix, version="1")
    monkeypatch.setattr("storage.writer.FLUSH_BYTES", 1)  # send every write at once
    with pytest.raises(RuntimeError, match="killed mid-publish"):
        world.publish(redis_client, prefix, version="2", model=_Failing(), pending_seconds=600,
                      batch_users=1)
    assert _live(redis_client, prefix) == {b"shop": live.namespace.encode()}
    partial = {key for key in redis_client.scan_iter(match=f"{prefix}v:{{shop:2:*")}
    assert partial, "the failed publish should have written its first lists"
    assert all(0 < redis_client.ttl(key) <= 600 for key in partial)
    assert all(redis_client.ttl(k) == -1 for k in _members(redis_client, prefix, live.namespace))


def test_purchases_replace_the_training_rows_as_what_is_never_offered_again(
    redis_client: redis.Redis, prefix: str
) -> None:
    bought = sparse.csr_matrix(np.eye(3, 8, k=2, dtype=np.float32))  # u0 p2, u1 p3, u2 p4
    stats = world.publish(redis_client, prefix, purchases=bought)
    keys = Keys(prefix).version(stats.namespace)
    buckets = json.loads(redis_client.get(keys.meta()))["user_buckets"]
    profile = decode_profile(redis_client.hget(keys.profile(bucket_of("u1", buckets)), "u1"))
    assert profile.seen.tolist() == [3]


def test_a_100_item_list_costs_under_600_redis_bytes_per_user(
    redis_client: redis.Redis, prefix: str
) -> None:
    rng = np.random.default_rng(7)
    n_users, n_items = 1500, 400
    scores = rng.random((n_users, n_items), dtype=np.float32)
    users = [f"user-{i:06d}" for i in range(n_users)]
    items = [f"item-{i:05d}" for i in range(n_items)]
    train = Interactions(sparse.csr_matrix((n_users, n_items), dtype=np.float32),
                         IdMap.from_ids(users), IdMap.from_ids(items))
    catalog = pd.DataFrame({"item_id": items, "kind": "product", "category": "lunch"})
    model = world.FixedScores(scores=scores, similarity=np.eye(n_items, dtype=np.float32))
    stats = publish_version(redis_client, "bytes", "1", model.fit(train.matrix), train, catalog,
                            world.config(prefix), top_n=100, now=world.NOW)
    assert stats.users == n_users
    assert 309 < stats.list_bytes <= 600  # 309 bytes of payload plus Redis's own overhead


@pytest.mark.parametrize("dense_cells", [1 << 25, 0])
def test_ranking_unseen_items_matches_the_models_own_filtering(
    dense_cells: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recommender.models import make_model
    from training.publish_ranking import Ranker, SeenItems, ask_model, keep_unseen

    monkeypatch.setattr("training.publish_ranking.DENSE_MASK_CELLS", dense_cells)
    rng = np.random.default_rng(3)
    n_users, n_items = 300, 120
    density = np.where(np.arange(n_users)[:, None] < 20, 0.6, 0.08)  # 20 heavy users
    matrix = sparse.csr_matrix((rng.random((n_users, n_items)) < density).astype(np.float32))
    model = make_model("als", {"factors": 8, "iterations": 3}).fit(matrix)
    cand = np.sort(rng.choice(n_items, 90, replace=False))
    rows = np.arange(n_users)
    expected, _ = model.recommend(rows, matrix, N=25, items=cand)
    with Ranker(model, rng.random(n_items), threads=2) as ranker:
        seen = SeenItems(matrix)
        got, scores = keep_unseen(seen, 25, ask_model(ranker, rows, seen, cand, 25))
    assert np.array_equal(got, expected)
    assert np.all(np.diff(scores, axis=1)[got[:, 1:] >= 0] <= 0)
    heavy = matrix[:20].multiply(sparse.csr_matrix(np.isin(np.arange(n_items), cand))).sum(1)
    assert (np.asarray(heavy).ravel() > 32).any(), "the test needs users beyond the tiers"


def test_ranking_in_popularity_order_answers_what_the_model_does_equal_scores_included(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from recommender.models import make_model
    from training.publish_ranking import Ranker, SeenItems, ask_model

    monkeypatch.setattr("training.publish_ranking.PART_ROWS", 200)  # groups in parts
    rng = np.random.default_rng(5)
    n_users, n_items = 450, 90
    matrix = sparse.csr_matrix((rng.random((n_users, n_items)) < 0.1).astype(np.float32))
    model = make_model("als", {"factors": 4, "iterations": 2}).fit(matrix)
    native = model.model
    native.item_factors = native.item_factors[np.arange(n_items) // 3]  # equal scores in threes
    cand = np.sort(rng.choice(n_items, 70, replace=False))
    rows = np.arange(n_users)
    seen = SeenItems(matrix)
    with Ranker(model, rng.random(n_items), threads=2) as ranker:
        answers = [(group, *answer()) for group, answer in ask_model(ranker, rows, seen, cand, 10)]
    ties = edges = 0
    for group, ids, scores in answers:
        k = ids.shape[1]
        expected = model.recommend(rows[group], matrix[group], N=k,
                                   filter_already_liked_items=False, items=cand)
        assert np.array_equal(ids, expected[0]) and np.array_equal(scores, expected[1])
        deeper = model.recommend(rows[group], matrix[group], N=k + 1,
                                 filter_already_liked_items=False, items=cand)[1]
        ties += int((scores[:, 1:] == scores[:, :-1]).sum())
        edges += int((deeper[:, k - 1] == deeper[:, k]).sum())
    assert ties and edges, "the test needs equal scores within the lists and at their ends"


def _publish_as(client: redis.Redis, prefix: str, name: str) -> PublishStats:
    train = world.interactions()
    return publish_version(client, name, "1", world.FixedScores().fit(train.matrix), train,
                           world.catalog(), world.config(prefix), now=world.NOW)


def test_the_first_model_published_is_the_default_and_another_name_leaves_it(
    redis_client: redis.Redis, prefix: str
) -> None:
    assert world.publish(redis_client, prefix).default_model == "shop"
    other = _publish_as(redis_client, prefix, "other")
    assert other.default_model == "shop"
    second = world.publish(redis_client, prefix, version="2")
    assert read_pointers(redis_client, Keys(prefix)) == Pointers(
        {"shop": second.namespace, "other": other.namespace}, "shop")


def test_a_deployment_from_before_the_default_pointer_keeps_serving_its_model(
    redis_client: redis.Redis, prefix: str
) -> None:
    world.publish(redis_client, prefix)
    redis_client.delete(Keys(prefix).default_model())  # live = {shop}, no default yet
    assert _publish_as(redis_client, prefix, "other").default_model == "shop"


def test_set_default_moves_the_default_to_a_live_model_only(
    redis_client: redis.Redis, prefix: str
) -> None:
    keys = Keys(prefix)
    world.publish(redis_client, prefix)
    other = _publish_as(redis_client, prefix, "other")
    set_default(redis_client, keys, "other")
    assert read_live(redis_client, keys, None).keys == keys.version(other.namespace)
    with pytest.raises(NoLiveModel, match="model 'nope' has no live version to make the default"):
        set_default(redis_client, keys, "nope")
    assert read_pointers(redis_client, keys).default == "other"


@pytest.mark.parametrize("make_default", [False, True])
def test_the_publish_command_says_which_model_serving_uses(
    redis_client: redis.Redis, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch,
    make_default: bool,
) -> None:
    world.publish(redis_client, prefix)

    def publish_ref(ref: str, config: Any, **kwargs: Any) -> PublishStats:
        return _publish_as(redis_client, prefix, ref.partition("@")[0])

    monkeypatch.setattr("recsys_cli.publishing.publish_ref", publish_ref)
    args = ["publish", "other@champion", "--redis-url", redis_url, "--prefix", prefix]
    result = CliRunner().invoke(app, args + ["--default"] * make_default)
    assert result.exit_code == 0, result.output
    if make_default:
        assert ("'other' is the default model: servers without RECSYS_MODEL_NAME serve it "
                "within a second") in result.output
        assert read_pointers(redis_client, Keys(prefix)).default == "other"
    else:
        assert ("serving keeps using the default model 'shop'; to serve 'other', set "
                "RECSYS_MODEL_NAME=other for `recsys serve`, or make it the default with "
                "`recsys publish other@champion --default`") in " ".join(result.output.split())
        assert read_pointers(redis_client, Keys(prefix)).default == "shop"


def test_a_factor_model_gets_co_occurrence_lists_that_serving_starts_sessions_from(
    redis_client: redis.Redis, prefix: str
) -> None:
    from recommender.models import make_model
    from storage.manifest import Manifest

    train = world.interactions()
    stats = world.publish(redis_client, prefix, model=make_model("als", {"factors": 2}),
                          train=train)
    keys = Keys(prefix).version(stats.namespace)
    manifest = Manifest.from_bytes(redis_client.get(keys.meta()))
    assert manifest.session_lists is True
    field = b"p0"
    bucket = bucket_of("p0", manifest.item_buckets)
    session = decode_list(redis_client.hget(keys.session(bucket), field))
    assert session.items[0] == 1  # p1: the only item bought with p0 (u1)
    own = world.publish(redis_client, prefix, version="2")  # co-occurrence already
    again = Manifest.from_bytes(redis_client.get(Keys(prefix).version(own.namespace).meta()))
    assert again.session_lists is False
    assert not list(redis_client.scan_iter(f"{Keys(prefix).version(own.namespace).pattern}*"
                                           ":session"))
