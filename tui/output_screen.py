"""The trainer's own output (RUN_DIR/output.log): your script's prints and warnings, the
framework's messages, a traceback. Shown over the run, following the file as it grows."""

from __future__ import annotations

import os
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Log

TAIL_BYTES = 256 * 1024
"""How much of the end of the file is shown when the screen opens."""
READ_EVERY_S = 0.5
MAX_LINES = 5000


class OutputScreen(ModalScreen[None]):
    """output.log's last lines, then whatever is appended; escape, o or q closes it."""

    DEFAULT_CSS = """
    OutputScreen { align: center middle; }
    OutputScreen > Vertical { width: 100%; height: 100%; border: round $primary;
                              background: $surface; }
    OutputScreen Log { height: 1fr; }
    """
    BINDINGS = [Binding("escape,o,q", "dismiss", "Close")]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._offset = 0
        self._partial = ""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"output: {self.path}"
            box.border_subtitle = "esc closes"
            yield Log(max_lines=MAX_LINES, auto_scroll=True)

    def on_mount(self) -> None:
        """Show the end of the file, then follow it."""
        try:
            size = self.path.stat().st_size
        except OSError:
            self.query_one(Log).write_line(f"(no output yet: {self.path} does not exist)")
            size = 0
        self._offset = max(0, size - TAIL_BYTES)
        self._read(skip_partial_first=self._offset > 0)
        self.set_interval(READ_EVERY_S, self._read)

    def _read(self, skip_partial_first: bool = False) -> None:
        try:
            with open(self.path, "rb") as file:
                if os.fstat(file.fileno()).st_size < self._offset:
                    self._offset = 0  # the file was replaced
                file.seek(self._offset)
                data = file.read(TAIL_BYTES)
        except OSError:
            return
        if not data:
            return
        self._offset += len(data)
        text = self._partial + data.decode("utf-8", errors="replace")
        lines = text.split("\n")
        self._partial = lines.pop()  # an unfinished line waits for its end
        if skip_partial_first and lines:
            lines = lines[1:]  # the tail starts mid-line
        # Carriage returns (progress bars) keep only what the line ends with.
        self.query_one(Log).write_lines([line.rstrip("\r").rsplit("\r", 1)[-1]
                                         for line in lines])
