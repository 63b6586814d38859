"""Acting as another user from a fork of this process.

A fork that has become another user may no longer read the interpreter's own files: a
virtual environment in a folder closed to others (as a CI's temporary folder is) is out of
its reach. So everything it runs is imported (and the theme files read) first, while the
fork is still this user.
"""

from __future__ import annotations

import importlib
import pkgutil

NOBODY = 65534
"""The user the forks become."""

PACKAGES = ("trainui.core", "trainui.tui", "trainui.themes")


def preload_trainui() -> None:
    """Import every trainui module (and so what they import at their top) now."""
    for top in PACKAGES:
        package = importlib.import_module(top)
        for module in pkgutil.walk_packages(package.__path__, f"{top}."):
            importlib.import_module(module.name)
    from trainui.themes import available_themes

    available_themes()  # the bundled theme files are read once per process
