"""The message shown instead of the run when the terminal is too small."""

from __future__ import annotations

from textual.app import RenderResult
from textual.widget import Widget

MIN_WIDTH = 60
MIN_HEIGHT = 18


class TooSmall(Widget):
    """Says how large the terminal must be; visible only below the minimum size."""

    DEFAULT_CSS = """
    TooSmall { width: 1fr; height: 1fr; content-align: center middle; text-align: center;
               display: none; }
    """

    def render(self) -> RenderResult:
        """The current size and the size needed (re-rendered on every resize)."""
        width, height = self.app.size
        return (
            f"Terminal too small: {width}x{height}\n"
            f"trainui needs at least {MIN_WIDTH}x{MIN_HEIGHT}: please enlarge the window"
        )
