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
