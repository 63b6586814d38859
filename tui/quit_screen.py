"""Quit confirmation while training runs: stop and save, or cancel."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmQuitScreen(ModalScreen[bool]):
    """Dismisses with True to stop and save, False to keep training."""

    AUTO_FOCUS = "#cancel"  # Enter alone must not stop a long run.

    DEFAULT_CSS = """
    ConfirmQuitScreen { align: center middle; }
    ConfirmQuitScreen > Vertical { width: 56; max-width: 100%; height: auto;
                                   border: thick $warning; background: $surface; padding: 0 1; }
    ConfirmQuitScreen Static { margin: 1 0; }
    ConfirmQuitScreen Horizontal { height: auto; align-horizontal: center; }
    ConfirmQuitScreen Button { margin: 0 1; }
    """
    BINDINGS = [
        Binding("y", "choose(True)", "Stop & save", show=False),
        Binding("n,escape,q", "choose(False)", "Cancel", show=False),
    ]

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Quit?"
            yield Static(
                "Training is still running. Stop now, save a checkpoint and quit?\n"
                "[dim]y: stop & save    n / esc: keep training[/]"
            )
            with Horizontal():
                yield Button("Stop & save", variant="warning", id="stop")
                yield Button("Cancel", id="cancel")

    def action_choose(self, stop: bool) -> None:
        """Close with the user's choice."""
        self.dismiss(stop)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "stop")
