"""Only ``training.spark`` needs pyspark: the other commands work without it, serving never
imports it."""

from __future__ import annotations

import subprocess
import sys


def run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_training_and_the_cli_work_where_pyspark_is_not_installed() -> None:
    out = run(
        "import sys\n"
        "sys.modules['pyspark'] = sys.modules['py4j'] = None  # as if not installed\n"
        "import mlflow, recsys_cli.main, recsys_cli.publishing, recsys_cli.train_cmd\n"
        "import training.train, training.publish, training.model_store\n"
        "print(sorted(n for n in sys.modules if n.startswith('training.spark')))\n"
    )
    assert out == "[]"


def test_serving_does_not_import_pyspark() -> None:
    out = run("import sys, serving.main\nprint('pyspark' in sys.modules, 'py4j' in sys.modules)")
    assert out == "False False"


def test_the_spark_engine_says_how_to_install_pyspark_where_it_is_missing() -> None:
    out = run(
        "import sys\n"
        "sys.modules['pyspark'] = sys.modules['py4j'] = None\n"
        "from typer.testing import CliRunner\n"
        "from recsys_cli.main import app\n"
        "result = CliRunner().invoke(app, ['train', '--events', 'events.csv', '--experiment',\n"
        "                                  'x', '--engine', 'spark'])\n"
        "print(result.exit_code, ' '.join(result.output.split()))\n"
    )
    assert out.startswith("2 error: --engine spark needs pyspark")
    assert "pip install 'recsys[spark]'" in out
