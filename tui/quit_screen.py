"""Quit confirmation while training runs: stop and save, leave it training, or cancel."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

STOP = "stop"
LEAVE = "leave"


class ConfirmQuitScreen(ModalScreen[str | None]):
    """Dismisses with STOP (stop and save, then quit), LEAVE (close the view, the trainer
    goes on: offered only when it trains in a process of its own) or None (cancel)."""

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
        Binding("y", "choose('stop')", "Stop & save", show=False),
        Binding("l", "choose('leave')", "Leave it training", show=False),
        Binding("n,escape,q", "choose(None)", "Cancel", show=False),
    ]

    def __init__(self, can_leave: bool = False) -> None:
        super().__init__()
        self.can_leave = can_leave

    def compose(self) -> ComposeResult:
        leave = "    l: leave it training" if self.can_leave else ""
        question = ("Stop now, save a checkpoint and quit, or close the view and leave "
                    "it training?" if self.can_leave
                    else "Stop now, save a checkpoint and quit?")
        with Vertical() as box:
            box.border_title = "Quit?"
            if self.can_leave:
                box.styles.width = 76  # three buttons
            yield Static(f"Training is still running. {question}\n"
                         f"[dim]y: stop & save{leave}    n / esc: cancel[/]")
            with Horizontal():
                yield Button("Stop & save", variant="warning", id=STOP)
                if self.can_leave:
                    yield Button("Leave it training", variant="primary", id=LEAVE)
                yield Button("Cancel", id="cancel")

    def action_choose(self, choice: str | None) -> None:
        """Close with the user's choice."""
        if choice == LEAVE and not self.can_leave:
            return
        self.dismiss(choice)

    @on(Button.Pressed)
    def _button(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id if event.button.id in (STOP, LEAVE) else None)
