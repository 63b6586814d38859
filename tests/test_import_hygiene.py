"""The headless core never imports the terminal UI stack (textual, rich, plotext)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow
UI_PACKAGES = ("textual", "rich", "plotext", "textual_plotext")

PROBE = """
import importlib, json, pkgutil, sys
import trainui.core

names = sorted(info.name for info in pkgutil.walk_packages(trainui.core.__path__, "trainui.core."))
for name in names:
    importlib.import_module(name)
ui = sorted(m for m in sys.modules if m.split(".")[0] in sys.argv[1:])
print(json.dumps({"imported": names, "ui": ui}))
"""


def test_core_imports_no_ui_package():
    """Import every module under trainui.core in a fresh process; no UI module may load."""
    probe = subprocess.run([sys.executable, "-c", PROBE, *UI_PACKAGES], capture_output=True,
                           text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    report = json.loads(probe.stdout)
    # The walk must really reach the engine, subpackages included.
    assert {"trainui.core.loop", "trainui.core.job",
            "trainui.core.callbacks.checkpointing"} <= set(report["imported"])
    assert report["ui"] == []


def test_an_integration_without_its_framework_says_what_to_install(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Importing the Lightning callback where Lightning is missing: an ImportError that
    names the extra to install."""
    import subprocess
    import sys

    blocker = tmp_path / "lightning"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('no lightning here')\n")
    code = ("import sys; sys.path.insert(0, sys.argv[1])\n"
            "try:\n    import trainui.integrations.lightning\n"
            "except ImportError as e:\n    print(e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                            text=True, timeout=120)
    assert "pip install 'trainui[lightning]'" in result.stdout, result.stderr
