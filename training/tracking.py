"""Where runs and models are tracked: zero-config local SQLite, or any ``MLFLOW_TRACKING_URI``.

With no ``MLFLOW_TRACKING_URI`` the store is ``sqlite:///<cwd>/mlflow/mlflow.db`` and artifacts go
to ``<cwd>/mlflow/artifacts``. With a SQLite URI of its own the artifacts go beside that database
file; any other URI (an ``mlflow server``, PostgreSQL, ...) keeps the server's artifact settings.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from datetime import UTC, datetime
from pathlib import Path

import mlflow
from mlflow import ActiveRun
from mlflow.tracking import MlflowClient

TRACKING_ENV = "MLFLOW_TRACKING_URI"
LOCAL_DIR = "mlflow"
DB_NAME = "mlflow.db"
ARTIFACTS_DIR = "artifacts"
_OPENING = threading.Lock()  # one thread at a time opens (and maybe creates) an experiment
GIT_COMMIT_TAG = "mlflow.source.git.commit"
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")


def configure_tracking(root: Path | None = None) -> str:
    """Point MLflow at the tracking store and return its URI.

    Parameters
    ----------
    root : Path, optional
        Project directory holding ``mlflow/`` when no ``MLFLOW_TRACKING_URI`` is set
        (default: the current directory).
    """
    uri = os.environ.get(TRACKING_ENV, "").strip() or local_store(root or Path.cwd())
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def local_store(root: Path) -> str:
    """The URI of the SQLite store in ``root/mlflow/``, its folders created."""
    local = root.resolve() / LOCAL_DIR
    (local / ARTIFACTS_DIR).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{local / DB_NAME}"


def artifact_root(uri: str) -> Path | None:
    """The artifact directory that goes with a SQLite store, ``None`` for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///").split("?", 1)[0]).resolve()
    return database.parent / ARTIFACTS_DIR


def ensure_experiment(name: str, tracking_uri: str | None = None) -> str:
    """The id of experiment ``name``, creating it (with its artifact location) if needed.

    ``tracking_uri`` defaults to MLflow's current one.
    """
    uri = tracking_uri or mlflow.get_tracking_uri()
    with _OPENING:
        return _ensure_experiment(name, uri)


def _ensure_experiment(name: str, uri: str) -> str:
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    root = artifact_root(uri)
    location = None
    if root is not None:
        folder = root / _slug(name)
        folder.mkdir(parents=True, exist_ok=True)
        location = folder.as_uri()
    return str(client.create_experiment(name, artifact_location=location))


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "experiment"


def start_job_run(job: str, model: str, experiment_id: str, run_name: str | None = None,
                  now: datetime | None = None) -> ActiveRun:
    """Start the run of a job (``train``, ``tune``): named for what it is, tagged with its code.

    The name is ``run_name`` or ``job_run_name(job, model, now)``; the run is tagged
    ``mlflow.source.git.commit`` when the job runs inside a git checkout (``git_commit``).
    """
    return mlflow.start_run(experiment_id=experiment_id,
                            run_name=run_name or job_run_name(job, model, now),
                            tags=source_tags())


def job_run_name(job: str, model: str, now: datetime | None = None) -> str:
    """``train-als-20261130-0102``: the job, the model and the UTC minute it started."""
    return f"{job}-{model}-{(now or datetime.now(UTC)):%Y%m%d-%H%M}"


def source_tags(directory: Path | None = None) -> dict[str, str]:
    """``{mlflow.source.git.commit: <sha>}`` inside a git checkout, else nothing."""
    commit = git_commit(directory)
    return {GIT_COMMIT_TAG: commit} if commit else {}


def git_commit(directory: Path | None = None) -> str | None:
    """The commit checked out at ``directory`` (default: the current directory), or ``None``
    outside a git checkout, without git, or in a repository with no commit yet."""
    try:
        done = subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"],
                              cwd=directory or Path.cwd(), capture_output=True, text=True,
                              timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and _COMMIT.fullmatch(commit) else None
