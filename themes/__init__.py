"""Colour themes as TOML data files, loadable without importing textual.

The command line validates `--theme` before the UI starts, so this module only reads data.
Each theme has `[colors]` (the Textual theme's base colours) and `[chart]` (series and
confusion-matrix colours, so charts follow the theme).
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any

from trainui.core.errors import TrainuiError

DEFAULT_THEME = "dark"
COLOR_KEYS = (
    "primary", "secondary", "accent", "warning", "error", "success",
    "foreground", "background", "surface", "panel",
)  # fmt: skip
CHART_KEYS = ("step_loss", "smooth_loss", "train", "val", "lr", "correct", "wrong")


@cache
def _bundled() -> dict[str, str]:
    """Each bundled theme's TOML text by name, read once per process."""
    return {
        entry.name.removesuffix(".toml"): entry.read_text("utf-8")
        for entry in sorted(files(__name__).iterdir(), key=lambda entry: entry.name)
        if entry.name.endswith(".toml")
    }


def available_themes() -> list[str]:
    """Names of the bundled themes, sorted."""
    return list(_bundled())


def load_theme(name: str) -> dict[str, Any]:
    """Return the theme `name` as a dict: name, description, dark, colors, chart."""
    names = available_themes()
    if name not in names:
        raise TrainuiError(f"unknown theme {name!r}; available themes: {', '.join(names)}")
    data = tomllib.loads(_bundled()[name])
    _check_keys(name, "colors", data.get("colors", {}), COLOR_KEYS)
    _check_keys(name, "chart", data.get("chart", {}), CHART_KEYS)
    return {
        "name": name,
        "description": str(data.get("description", "")),
        "dark": bool(data.get("dark", True)),
        "colors": dict(data["colors"]),
        "chart": dict(data["chart"]),
    }


def _check_keys(name: str, table: str, values: dict[str, Any], required: tuple[str, ...]) -> None:
    missing = [key for key in required if key not in values]
    if missing:
        raise TrainuiError(f"theme {name!r}: [{table}] lacks {', '.join(missing)}")
