"""Start the MLflow UI over the project's tracking store: ``make mlflow-ui``.

Serves ``sqlite:///<project>/mlflow/mlflow.db`` (or ``MLFLOW_TRACKING_URI`` when it names a
database rather than a server) on http://127.0.0.1:5000; ``MLFLOW_UI_PORT`` picks another port.
Artifacts of runs logged by ``recsys`` are read from where they were written
(``mlflow/artifacts/`` by default); experiments created in the UI store theirs there too.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from training.tracking import ARTIFACTS_DIR, LOCAL_DIR, TRACKING_ENV, artifact_root, local_store

PROJECT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


def backend_uri() -> str:
    uri = os.environ.get(TRACKING_ENV, "").strip()
    if not uri or uri.startswith(("http://", "https://")):
        return local_store(PROJECT)
    return uri


def server_command(uri: str, port: str) -> list[str]:
    artifacts = artifact_root(uri) or PROJECT / LOCAL_DIR / ARTIFACTS_DIR
    executable = Path(sys.executable).with_name("mlflow")
    launcher = [str(executable)] if executable.exists() else [sys.executable, "-m", "mlflow"]
    return [
        *launcher,
        "server",
        "--backend-store-uri", uri,
        "--artifacts-destination", str(artifacts),
        "--host", HOST,
        "--port", port,
    ]


def main() -> None:
    uri, port = backend_uri(), os.environ.get("MLFLOW_UI_PORT", "5000")
    command = server_command(uri, port)
    # The server's background job runner (GenAI jobs) is not needed to browse runs and models.
    os.environ.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    print(f"MLflow UI on http://{HOST}:{port} over {uri}; Ctrl-C stops it", file=sys.stderr)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
