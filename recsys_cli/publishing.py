"""Publishing a registered version into Redis, with progress: shared by ``publish`` and ``demo``."""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from recommender.config import RecsysConfig
from recommender.errors import ConfigError
from recsys_cli.common import mlflow_session
from recsys_cli.storage_opts import storage_settings
from storage.connect import connect
from storage.keys import name_version
from training.model_store import load_version
from training.publish import PublishStats, publish_version


def publish_ref(
    ref: str, config: RecsysConfig, top_n: int = 100, quiet: bool = False,
    redis_url: str | None = None, prefix: str | None = None, spark_master: str | None = None,
) -> PublishStats:
    """Load ``ref`` (``NAME@ALIAS``) from MLflow and publish it to the configured Redis
    (``recsys_cli.storage_opts``: the flags, else the environment, else ``config``).

    With ``spark_master`` the per-user lists are written from Spark partitions on that master
    (``training.spark.publish``); the rest, and the go-live, as always."""
    settings = storage_settings(config, redis_url, prefix)
    with mlflow_session():
        loaded = load_version(ref)
    user_lists = None
    if spark_master is not None:
        try:
            from training.spark.publish import SparkUserLists
            from training.spark.session import spark_session
        except ImportError as exc:
            raise ConfigError(f"--engine spark needs pyspark ({exc}); install it with "
                              "pip install 'recsys[spark]'") from None
        user_lists = SparkUserLists(spark_session(spark_master), settings.url)
    client = connect(settings.url)
    name = loaded.name or ref.partition("@")[0]
    version = loaded.version or (loaded.run_id or "run")
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        transient=True,
        disable=quiet,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"publish {stage}", total=max(total, 1))
            bar.update(tasks[stage], completed=done, total=max(total, 1))

        return publish_version(
            client,
            name,
            version,
            loaded.model,
            loaded.interactions,
            loaded.catalog,
            config,
            top_n=top_n,
            progress=progress,
            keys=settings.keys,
            metrics=loaded.metrics,
            user_lists=user_lists,
        )


@dataclass(frozen=True)
class ServingState:
    """What Redis serves: the live version of each model name, the default model (what a server
    without ``RECSYS_MODEL_NAME`` serves) and the versions still published (``(name, version)``
    pairs); ``note`` says why it could not be read (then all are empty)."""

    live: dict[str, str] = field(default_factory=dict)
    default: str | None = None
    published: set[tuple[str, str]] = field(default_factory=set)
    note: str | None = None

    def of(self, name: str, version: str) -> str:
        """``live`` (``live, default`` for the default model), ``published`` (still in Redis,
        not served) or ``""``."""
        if self.live.get(name) == version:
            return "live, default" if name == self.default and len(self.live) > 1 else "live"
        return "published" if (name, version) in self.published else ""


def serving_state(
    config: RecsysConfig, redis_url: str | None = None, prefix: str | None = None
) -> ServingState:
    """Read the live pointer and the published versions; a note instead if Redis does not answer."""
    from redis import RedisError

    from recsys_cli.embedded_redis import EmbeddedRedisError
    from storage.live import read_pointers

    try:
        settings = storage_settings(config, redis_url, prefix)
        client = connect(settings.url, socket_connect_timeout=2, socket_timeout=5)
        keys = settings.keys
        pointers = read_pointers(client, keys)
        recorded = [value.decode() for value in client.hgetall(keys.published()).values()]
        with client.pipeline(transaction=False) as pipe:
            for namespace in recorded:
                pipe.exists(keys.version(namespace).meta())
            present = pipe.execute()
    except (RedisError, EmbeddedRedisError, OSError) as exc:
        return ServingState(note=f"what is published and live is unknown: Redis did not answer "
                            f"({type(exc).__name__}); check --redis-url / RECSYS_REDIS_URL")
    return ServingState(
        live={name: name_version(namespace)[1] for name, namespace in pointers.live.items()},
        default=pointers.default,
        published={name_version(ns) for ns, there in zip(recorded, present, strict=True) if there},
    )
