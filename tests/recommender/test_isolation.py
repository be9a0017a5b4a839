"""The pure library must not drag in the service stack."""

import subprocess
import sys

FORBIDDEN = ("redis", "mlflow", "fastapi", "storage")


def test_importing_recommender_imports_no_redis_mlflow_or_fastapi() -> None:
    code = (
        "import sys, importlib, pkgutil, recommender\n"
        "for m in pkgutil.walk_packages(recommender.__path__, 'recommender.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r})\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_serving_never_imports_mlflow_implicit_or_training() -> None:
    code = (
        "import sys, importlib, pkgutil, serving\n"
        "for m in pkgutil.walk_packages(serving.__path__, 'serving.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules\n"
        "             if n.split('.')[0] in ('mlflow', 'implicit', 'training'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_storage_never_imports_mlflow_fastapi_or_training() -> None:
    code = (
        "import sys, importlib, pkgutil, storage\n"
        "for m in pkgutil.walk_packages(storage.__path__, 'storage.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules\n"
        "             if n.split('.')[0] in ('mlflow', 'fastapi', 'training', 'serving'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
