"""Bundled themes as Textual themes, and the chart colours of whichever theme is active."""

from __future__ import annotations

from functools import cache

from textual.theme import Theme

from trainui.themes import DEFAULT_THEME, available_themes, load_theme


def textual_themes() -> list[Theme]:
    """Every bundled theme as a Textual `Theme`, named as its data file."""
    return [_textual_theme(name) for name in available_themes()]


def _textual_theme(name: str) -> Theme:
    data = load_theme(name)
    return Theme(
        name=name,
        dark=data["dark"],
        variables={"footer-key-foreground": data["colors"]["accent"]},
        **data["colors"],
    )


@cache
def chart_colors(theme_name: str) -> dict[str, str]:
    """Series colours (hex) of a bundled theme; the default theme's for any other theme."""
    if theme_name not in available_themes():
        theme_name = DEFAULT_THEME
    return load_theme(theme_name)["chart"]


def next_theme(current: str) -> str:
    """The bundled theme after `current`, wrapping around."""
    names = available_themes()
    index = names.index(current) if current in names else -1
    return names[(index + 1) % len(names)]
