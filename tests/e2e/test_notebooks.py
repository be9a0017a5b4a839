"""The notebooks run top to bottom: on their default synthetic data, and on inputs given to them.

Parameters are injected the way papermill does it: a code cell tagged ``injected-parameters`` goes
right after the cell tagged ``parameters``, so its assignments win over the defaults. nbclient
raises ``CellExecutionError`` at the first cell that fails, which fails the test with its traceback.
Each notebook runs in a fresh kernel of this interpreter, with a temporary working directory.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbformat import NotebookNode

from recommender.config import DEFAULT_WEIGHTS
from recommender.synth import synthesize, write_synth

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
ALL_NOTEBOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 300  # seconds one cell may take before the run fails
KERNEL = "recsys-test-python"


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with one kernelspec that starts this interpreter's ipykernel.

    Whatever other ``python3`` kernels are installed, the notebooks run with this venv's packages.
    """
    folder = tmp_path_factory.mktemp("kernels")
    (folder / KERNEL).mkdir()
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "recsys tests",
        "language": "python",
    }
    (folder / KERNEL / "kernel.json").write_text(json.dumps(spec), encoding="utf-8")
    return folder


def inject(notebook: NotebookNode, parameters: dict[str, Any]) -> None:
    """Insert an ``injected-parameters`` cell assigning ``parameters`` after the parameters cell."""
    tagged = [
        position
        for position, cell in enumerate(notebook.cells)
        if "parameters" in cell.get("metadata", {}).get("tags", [])
    ]
    assert len(tagged) == 1, f"expected one cell tagged 'parameters', found {len(tagged)}"
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    notebook.cells.insert(tagged[0] + 1, cell)


def execute(
    notebook: NotebookNode, cwd: Path, kernels: Path, **parameters: Any
) -> NotebookNode:
    """Run every cell of ``notebook`` (with ``parameters`` injected) in ``cwd``; return it run."""
    inject(notebook, parameters)
    manager = KernelManager(
        kernel_name=KERNEL, kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)])
    )
    client = NotebookClient(
        notebook, km=manager, timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(cwd)}}
    )
    client.execute()
    return notebook


def run(name: str, cwd: Path, kernels: Path, **parameters: Any) -> NotebookNode:
    return execute(nbformat.read(NOTEBOOKS / name, as_version=4), cwd, kernels, **parameters)


def outputs(notebook: NotebookNode, kind: str) -> list[Any]:
    """Printed text (``kind="text"``) or PNG images (``kind="image/png"``) of every cell."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if kind == "text" and output.get("output_type") == "stream":
                found.append(output["text"])
            elif kind in output.get("data", {}):
                found.append(output["data"][kind])
    return found


def test_the_notebooks_are_there_and_saved_without_outputs() -> None:
    names = [path.name for path in ALL_NOTEBOOKS]
    assert names == [
        "01-explore-events.ipynb",
        "02-train-and-evaluate.ipynb",
        "03-compare-model-versions.ipynb",
    ]
    for path in ALL_NOTEBOOKS:
        code = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        assert all(not cell.outputs and cell.execution_count is None for cell in code), path.name


def test_a_failing_cell_fails_the_run_and_injected_parameters_win(
    tmp_path: Path, kernels: Path
) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("VALUE = 1", metadata={"tags": ["parameters"]}),
            nbformat.v4.new_code_cell("assert VALUE == 1, f'VALUE is {VALUE}'"),
        ]
    )
    with pytest.raises(CellExecutionError, match="VALUE is 2"):
        execute(notebook, tmp_path, kernels, VALUE=2)


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda path: path.stem)
def test_notebook_runs_on_its_default_synthetic_data(
    path: Path, tmp_path: Path, kernels: Path
) -> None:
    notebook = run(path.name, tmp_path, kernels)

    assert outputs(notebook, "image/png"), "every notebook draws at least one chart"
    # Synthetic data and the MLflow store live in temporary folders, not in the working directory.
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def data_files(tmp_path: Path) -> tuple[Path, Path, int]:
    """A synthetic data set unlike the notebooks' default one, as parquet: events, items, rows."""
    data = synthesize(users=120, items=30, days=10, seed=7)
    events, items = write_synth(data, tmp_path / "data", "parquet")
    return events, items, len(data.events)


def test_explore_notebook_reads_the_files_given_as_parameters(
    tmp_path: Path, kernels: Path, data_files: tuple[Path, Path, int]
) -> None:
    events, items, rows = data_files
    notebook = run(
        "01-explore-events.ipynb", tmp_path, kernels, EVENTS_PATH=str(events), ITEMS_PATH=str(items)
    )

    printed = "".join(outputs(notebook, "text"))
    assert f"{events}: {rows:,} of {rows:,} rows valid, skipped: none" in printed
    assert "30 catalog items" in printed


def test_train_notebook_logs_a_run_per_model_and_registers_the_best(
    tmp_path: Path, kernels: Path, data_files: tuple[Path, Path, int]
) -> None:
    from mlflow.tracking import MlflowClient

    events, items, _ = data_files
    (tmp_path / "store").mkdir()
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    models = ["pop", "itemknn", "ease"]
    run(
        "02-train-and-evaluate.ipynb", tmp_path, kernels, EVENTS_PATH=str(events),
        ITEMS_PATH=str(items), MLFLOW_TRACKING_URI=store, EXPERIMENT="e2e", MODEL_NAME="e2e-best",
        MODELS=models,
    )

    client = MlflowClient(tracking_uri=store, registry_uri=store)
    experiment = client.get_experiment_by_name("e2e")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["mlflow.runName"] for r in runs) == sorted(models)
    best = max(runs, key=lambda r: r.data.metrics["test_ndcg_at_10"])
    [version] = client.search_model_versions("name = 'e2e-best'")
    assert version.run_id == best.info.run_id
    assert client.get_model_version_by_alias("e2e-best", "champion").version == version.version


@contextmanager
def tracking(store: str) -> Iterator[None]:
    """MLflow in this process pointed at ``store``; its globals and environment restored after."""
    import mlflow

    from training.tracking import configure_tracking

    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", store)
        env.setenv("MLFLOW_REGISTRY_URI", store)  # mlflow exports it; restored on the way out
        env.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        configure_tracking()
        try:
            yield
        finally:
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)


def test_compare_notebook_loads_the_versions_given_as_parameters(
    tmp_path: Path, kernels: Path, data_files: tuple[Path, Path, int]
) -> None:
    from mlflow.tracking import MlflowClient

    from recommender.data import load_events
    from training.spec import TrainSpec
    from training.train import train

    events_path, _, _ = data_files
    (tmp_path / "store").mkdir()
    store = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    events = load_events(events_path).frame
    with tracking(store):
        first, second = (
            train(events, TrainSpec(model, weights=dict(DEFAULT_WEIGHTS)), experiment="e2e",
                  register="e2e-versions")
            for model in ("ease", "itemknn")
        )
    assert (first.version, second.version) == ("1", "2")

    notebook = run(
        "03-compare-model-versions.ipynb", tmp_path, kernels, EVENTS_PATH=str(events_path),
        MLFLOW_TRACKING_URI=store, MODEL_NAME="e2e-versions", VERSION_A="2", VERSION_B="1",
    )

    # B (version 1) minus A (version 2), recomputed on their split: the logged difference.
    diff = first.test["ndcg@10"] - second.test["ndcg@10"]
    assert f"ndcg@10: B − A = {diff:+.4f}," in "".join(outputs(notebook, "text"))
    registered = MlflowClient(store, store).search_model_versions("name = 'e2e-versions'")
    assert sorted(str(version.version) for version in registered) == ["1", "2"]
