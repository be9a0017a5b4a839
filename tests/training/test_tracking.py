"""Zero-config tracking: a SQLite store under ./mlflow with its artifacts beside it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from training.tracking import (
    GIT_COMMIT_TAG,
    artifact_root,
    configure_tracking,
    ensure_experiment,
    git_commit,
    job_run_name,
    source_tags,
)


@pytest.fixture(autouse=True)
def _reset_tracking() -> Iterator[None]:
    yield
    mlflow.set_tracking_uri("")


def test_without_a_tracking_uri_the_store_is_sqlite_under_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = configure_tracking()
    assert uri == f"sqlite:///{tmp_path.resolve()}/mlflow/mlflow.db"
    assert (tmp_path / "mlflow" / "artifacts").is_dir()
    assert mlflow.get_tracking_uri() == uri and mlflow.get_registry_uri() == uri


def test_a_tracking_uri_from_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    monkeypatch.chdir(tmp_path)
    assert configure_tracking() == "http://127.0.0.1:5999"
    assert not (tmp_path / "mlflow").exists()


def test_artifacts_go_beside_a_sqlite_database_and_nowhere_special_for_servers(
    tmp_path: Path,
) -> None:
    assert artifact_root(f"sqlite:///{tmp_path}/x/db.sqlite") == tmp_path / "x" / "artifacts"
    assert artifact_root("postgresql://postgres@127.0.0.1/mlflow") is None
    assert artifact_root("http://127.0.0.1:5000") is None


def test_a_new_experiment_keeps_its_artifacts_in_the_store_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    configure_tracking()
    experiment_id = ensure_experiment("shop / als")
    assert ensure_experiment("shop / als") == experiment_id
    location = MlflowClient().get_experiment(experiment_id).artifact_location
    assert location == (tmp_path.resolve() / "mlflow" / "artifacts" / "shop-als").as_uri()
    assert not (tmp_path / "mlruns").exists()


def test_threads_opening_one_new_experiment_create_it_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time
    from concurrent.futures import ThreadPoolExecutor

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ensure_experiment("first", uri)  # the store exists: the threads race on the experiment only
    look_up = MlflowClient.get_experiment_by_name

    def slow_look_up(client: MlflowClient, name: str) -> object:
        found = look_up(client, name)
        time.sleep(0.2)  # every thread has looked before any creates, unless they take turns
        return found

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", slow_look_up)
    with ThreadPoolExecutor(max_workers=4) as pool:
        ids = list(pool.map(lambda _: ensure_experiment("shared", uri), range(4)))
    assert len(set(ids)) == 1
    names = [e.name for e in MlflowClient(tracking_uri=uri).search_experiments()]
    assert names.count("shared") == 1


def test_a_job_run_is_named_for_the_job_the_model_and_the_utc_minute() -> None:
    started = datetime(2026, 11, 30, 1, 2, 59, tzinfo=UTC)
    assert job_run_name("train", "als", started) == "train-als-20261130-0102"
    assert job_run_name("tune", "ease", started) == "tune-ease-20261130-0102"


def test_inside_a_git_checkout_runs_are_tagged_with_its_commit(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "job.py").write_text("print('hi')\n")
    git("add", "job.py")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "first")
    commit = git("rev-parse", "HEAD")
    assert git_commit(tmp_path) == commit
    assert source_tags(tmp_path) == {GIT_COMMIT_TAG: commit}


def test_outside_a_git_checkout_there_is_no_commit_tag(tmp_path: Path) -> None:
    assert git_commit(tmp_path) is None
    assert source_tags(tmp_path) == {}
