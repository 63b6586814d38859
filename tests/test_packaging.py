"""The built wheel installs everything under the single `trainui` namespace."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCE_PACKAGES = {"api": "trainui", "core": "trainui/core", "tui": "trainui/tui",
                   "themes": "trainui/themes", "integrations": "trainui/integrations"}
# pip's words when it cannot reach an index to fetch setuptools for the isolated build.
NETWORK_FAILURES = (
    "No matching distribution found for setuptools",
    "Could not find a version that satisfies the requirement setuptools",
    "NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
    "Network is unreachable",
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """Build the wheel from a copy of the source tree (so no build/ lands in the repo).

    Returns the wheel's files by name.
    """
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".*", "build", "dist", "*.egg-info", "__pycache__", "venv", "runs", "data"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
         "-w", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    output = built.stdout + built.stderr
    if built.returncode != 0 and any(sign in output for sign in NETWORK_FAILURES):
        pytest.skip(f"pip cannot fetch the build backend (no package index?): {output[-300:]}")
    assert built.returncode == 0, output
    (built_wheel,) = (work / "dist").glob("trainui-*.whl")
    with zipfile.ZipFile(built_wheel) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_every_file_is_under_trainui(wheel):
    wheel_names = list(wheel)
    dist_info = {name.split("/")[0] for name in wheel_names if ".dist-info/" in name}
    assert len(dist_info) == 1 and dist_info.pop().startswith("trainui-")
    strays = [n for n in wheel_names if not n.startswith("trainui/") and ".dist-info/" not in n]
    assert strays == []
    assert not [n for n in wheel_names
                if n.split("/")[0] in ("api", "core", "tui", "themes", "integrations", "tests")]
    assert not [n for n in wheel_names if "/tests/" in n or n.startswith("tests/")]


def _source_files(suffixes: tuple[str, ...] | None) -> set[str]:
    """Where each file of core/, tui/ and themes/ belongs in the wheel; None: every suffix."""
    return {
        f"{target}/{path.relative_to(REPO / folder).as_posix()}"
        for folder, target in SOURCE_PACKAGES.items()
        for path in (REPO / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
        and (suffixes is None or path.suffix in suffixes)
    }


def test_wheel_holds_every_source_module_and_theme(wheel):
    """Each .py of core/, tui/ and themes/ (subpackages too) and each theme file ships."""
    names = set(wheel)
    assert {"trainui/__init__.py", "trainui/__main__.py", "trainui/core/api.py",
            "trainui/core/loop.py", "trainui/tui/cli.py", "trainui/themes/__init__.py",
            "trainui/integrations/lightning.py", "trainui/integrations/hf.py"} <= names
    assert sorted(_source_files((".py", ".toml")) - names) == []
    assert any(n.startswith("trainui/themes/") and n.endswith(".toml") for n in names)


def test_wheel_ships_every_data_file(wheel):
    """Files the code reads at run time ship too, such as the TUI's stylesheet (app.tcss)."""
    assert sorted(_source_files(None) - set(wheel)) == []


def test_console_script_points_into_the_namespace(wheel):
    (entry_points,) = [data for name, data in wheel.items()
                       if name.endswith(".dist-info/entry_points.txt")]
    assert "trainui = trainui.tui.cli:main" in entry_points.decode()
