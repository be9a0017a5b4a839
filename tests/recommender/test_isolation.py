"""The dependency direction: each package imports only what it may."""

import subprocess
import sys


def _imported(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """The ``forbidden`` top-level packages that importing every module of ``package`` loads,
    in a fresh interpreter."""
    code = (
        f"import sys, importlib, pkgutil, {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {forbidden!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return [name for name in result.stdout.strip().split(",") if name]


def test_importing_recommender_imports_no_redis_mlflow_fastapi_or_storage() -> None:
    assert _imported("recommender", ("redis", "mlflow", "fastapi", "storage")) == []


def test_serving_never_imports_mlflow_implicit_or_training() -> None:
    assert _imported("serving", ("mlflow", "implicit", "training")) == []


def test_storage_never_imports_mlflow_fastapi_training_or_serving() -> None:
    assert _imported("storage", ("mlflow", "fastapi", "training", "serving")) == []
