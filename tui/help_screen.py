"""Help screen: every key and what it does, as the view's mode makes it behave."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from .keys import help_rows


class HelpScreen(ModalScreen[None]):
    """The keys, in a box over the run; any of escape, ? or q closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 66; max-width: 100%; height: auto; border: round $primary;
                            background: $surface; padding: 0 1; }
    HelpScreen Static { width: 1fr; height: auto; }
    """
    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
    ]

    def __init__(self, watching: bool = False) -> None:
        super().__init__()
        self.watching = watching

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        for key, action in help_rows(self.watching):
            table.add_row(key, action)
        with Vertical() as box:
            box.border_title = "trainui keys"
            box.border_subtitle = "esc closes"
            yield Static(table)
