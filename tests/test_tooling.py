"""The code stays lint-clean (ruff) and type-clean (mypy) as CI requires."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "tui", "themes", "integrations")


def test_ruff_is_clean() -> None:
    """`ruff check .` reports nothing (the rules are in pyproject.toml)."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_mypy_is_clean(tmp_path: Path) -> None:
    """mypy over the installed layout: api/ as trainui itself, core/, tui/, themes/ and
    integrations/ as trainui.core, ..."""
    package = tmp_path / "trainui"
    package.mkdir()
    for module in (ROOT / "api").glob("*.py"):
        (package / module.name).symlink_to(module)
    for name in PACKAGES:
        (package / name).symlink_to(ROOT / name, target_is_directory=True)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    args = ["--namespace-packages", "--explicit-package-bases", "--no-incremental",
            "-p", "trainui"]
    result = subprocess.run([sys.executable, "-m", "mypy", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
