"""The learning-rate prompt: a new value, or a factor, for the running job."""

from __future__ import annotations

import math

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from trainui.core.control import LR_SCALE, LR_SET, check_lr_request

LRChange = tuple[str, float]
"""(LR_SET or LR_SCALE, the value)."""


def parse_lr(text: str) -> LRChange:
    """`1e-4` sets the learning rate, `x0.5` (or `*0.5`) multiplies it, `/2` divides it;
    ValueError says what is wrong."""
    text = text.strip().lower().replace(" ", "")
    mode, number = LR_SET, text
    if text[:1] in ("x", "*", "/"):
        mode, number = LR_SCALE, text[1:]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"not a number: {number or text!r}") from None
    if text.startswith("/"):
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"the divisor must be a positive number, got {number}")
        value = 1 / value
    check_lr_request(mode, value)
    return mode, value


class LearningRateScreen(ModalScreen[LRChange | None]):
    """Dismisses with the change asked for, or None when cancelled."""

    DEFAULT_CSS = """
    LearningRateScreen { align: center middle; }
    LearningRateScreen > Vertical { width: 60; max-width: 100%; height: auto;
                                    border: thick $accent; background: $surface; padding: 0 1; }
    LearningRateScreen Static { margin: 1 0 0 0; }
    LearningRateScreen #problem { color: $error; margin: 0; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    def __init__(self, current: float | None) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        now = f"now {self.current:.6g}" if self.current is not None else "not reported yet"
        with Vertical() as box:
            box.border_title = "Learning rate"
            yield Static(f"Learning rate ({now}): a new value (1e-4), or a factor (x0.5, /10). "
                         "Every parameter group takes it at the next step; a scheduler goes "
                         "on from it.\n[dim]enter: apply    esc: cancel[/]")
            yield Input(placeholder="1e-4  or  x0.5", id="lr")
            yield Static("", id="problem")

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        try:
            change = parse_lr(event.value)
        except ValueError as exc:
            self.query_one("#problem", Static).update(str(exc))
            return
        self.dismiss(change)

    def action_cancel(self) -> None:
        """Close without a change."""
        self.dismiss(None)
