"""Publishing a registered version into Redis, with progress: shared by ``publish`` and ``demo``."""

from __future__ import annotations

from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from recommender.config import RecsysConfig
from recsys_cli.common import mlflow_session
from recsys_cli.storage_opts import storage_settings
from storage.connect import connect
from training.model_store import load_version
from training.publish import PublishStats, publish_version


def publish_ref(
    ref: str, config: RecsysConfig, top_n: int = 100, quiet: bool = False,
    redis_url: str | None = None, prefix: str | None = None,
) -> PublishStats:
    """Load ``ref`` (``NAME@ALIAS``) from MLflow and publish it to the configured Redis
    (``recsys_cli.storage_opts``: the flags, else the environment, else ``config``)."""
    settings = storage_settings(config, redis_url, prefix)
    with mlflow_session():
        loaded = load_version(ref)
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
        )
