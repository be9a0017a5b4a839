"""A data scientist opens the notebooks with the README's setup alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_jupyter_lab_is_installed_beside_the_package() -> None:
    jupyter = Path(sys.executable).with_name("jupyter")
    assert jupyter.exists(), "the dev extra does not install Jupyter"
    result = subprocess.run([str(jupyter), "lab", "--version"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().split(".")[0] == "4"
