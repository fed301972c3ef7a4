"""ruff and mypy --strict over the package: the style bar is part of the suite."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize("cmd", [
    [sys.executable, "-m", "ruff", "check", "cnnsize", "tests", "benchmarks"],
    [sys.executable, "-m", "mypy"],
], ids=["ruff", "mypy"])
def test_lint(cmd):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
