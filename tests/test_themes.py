"""Bundled themes: data files, clear errors, importable without textual."""

from __future__ import annotations

import subprocess
import sys

import pytest

from trainui.core.errors import TrainuiError
from trainui.themes import CHART_KEYS, COLOR_KEYS, DEFAULT_THEME, available_themes, load_theme

OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"}


def test_at_least_dark_light_and_high_contrast() -> None:
    """The three required themes ship, and dark is the default."""
    assert {"dark", "light", "high-contrast"} <= set(available_themes())
    assert DEFAULT_THEME == "dark"


@pytest.mark.parametrize("name", available_themes())
def test_every_theme_has_all_colours(name: str) -> None:
    """Each data file defines every base and chart colour as #rrggbb."""
    theme = load_theme(name)
    assert theme["name"] == name
    for key in COLOR_KEYS:
        assert theme["colors"][key].startswith("#") and len(theme["colors"][key]) == 7
    for key in CHART_KEYS:
        assert theme["chart"][key].startswith("#") and len(theme["chart"][key]) == 7


def test_high_contrast_series_use_okabe_ito() -> None:
    """Train, validation and the confusion-matrix hues are colour-blind safe."""
    chart = load_theme("high-contrast")["chart"]
    for key in ("train", "val", "smooth_loss", "correct", "wrong", "lr"):
        assert chart[key].upper() in OKABE_ITO


def test_unknown_theme_lists_the_available_ones() -> None:
    """A typo is a TrainuiError naming every bundled theme."""
    with pytest.raises(TrainuiError) as caught:
        load_theme("solarised")
    message = str(caught.value)
    assert "solarised" in message
    for name in available_themes():
        assert name in message


def test_themes_import_without_textual() -> None:
    """The command line validates --theme before importing the UI stack."""
    code = (
        "import sys; from trainui.themes import load_theme; load_theme('dark'); "
        "print(sorted(m for m in ('textual', 'rich', 'plotext') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
