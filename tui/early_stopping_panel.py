"""Early-stopping panel: monitored metric, best value and epoch, wait against patience."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from trainui.core import events as ev
from trainui.core.event_text import format_metric

from .panel import EventPanel, set_text


def wait_style(wait_count: int, patience: int) -> str:
    """Green while far from stopping, amber past half the patience, red on the last epoch."""
    if patience <= 0 or wait_count < patience / 2:
        return "$success"
    if wait_count < patience - 1:
        return "$warning"
    return "$error"


def wait_blocks(wait_count: int, patience: int, most: int = 10) -> str:
    """`■■□□□`: one block per epoch of patience, scaled down to `most` blocks."""
    cells = min(patience, most)
    filled = round(cells * wait_count / patience) if patience > 0 else 0
    return "■" * min(filled, cells) + "□" * max(0, cells - filled)


class EarlyStoppingPanel(EventPanel, Static):
    """`Early stop val_loss min | best 0.0912 @ epoch 3 | wait 2/5 ■■□□□`."""

    DEFAULT_CSS = """
    EarlyStoppingPanel { height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__("Early stop: no update yet", **kwargs)  # type: ignore[arg-type]
        self.latest: ev.EarlyStoppingUpdated | None = None

    def take(self, event: ev.Event) -> None:
        """Follow the early-stopping counter."""
        if isinstance(event, ev.EarlyStoppingUpdated):
            self.latest = event
            self.mark_dirty()

    def redraw(self) -> None:
        """Show best value, its epoch and the wait counter as blocks."""
        state = self.latest
        if state is None:
            return
        style = wait_style(state.wait_count, state.patience)
        blocks = wait_blocks(state.wait_count, state.patience)
        best = format_metric(state.monitor, state.best)
        set_text(
            self,
            Content.assemble(
                ("Early stop ", "bold"), f"{state.monitor} ({state.mode}) best ",
                (best, "bold"), f" @ epoch {state.best_epoch} | wait ",
                (f"{state.wait_count}/{state.patience} {blocks}", f"bold {style}"),
            )
        )  # fmt: skip
