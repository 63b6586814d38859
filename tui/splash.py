"""The first frame, drawn before Textual is imported: a live view's first ~0.3 s is
Textual loading. Plain escape sequences, on the alternate screen the app then takes over."""

from __future__ import annotations

import contextlib
import os
import shutil

ENTER = "\x1b[?1049h\x1b[?25l\x1b[H\x1b[2J"
"""Alternate screen, cursor hidden, home, clear (what Textual itself starts with)."""
LEAVE = "\x1b[2J\x1b[?25h\x1b[?1049l"


def show(run_name: str, doing: str) -> None:
    """Draw the header a starting run shows, and the keys line at the bottom."""
    columns, rows = shutil.get_terminal_size()
    header = f"\x1b[1;7m STARTING \x1b[0m \x1b[1m{run_name}\x1b[0m  elapsed --:--"
    line = f" starting: \x1b[1m{doing}\x1b[0m"
    footer = " q Quit"
    frame = (ENTER + header + "\r\n" + line[: columns + 8]
             + f"\x1b[{rows};1H" + footer)
    _write(frame)


def leave() -> None:
    """Give the terminal back, when the app did not take the screen over after all."""
    _write(LEAVE)


def _write(text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(1, text.encode())
