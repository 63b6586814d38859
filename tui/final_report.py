"""End-of-run panel: outcome, overall metrics, confusion matrix, per-class table; or the failure."""

from __future__ import annotations

from functools import singledispatchmethod

from rich.console import RenderableType
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.widgets import Static

from trainui.core import events as ev
from trainui.core import formats
from trainui.core.confusion import confused_text, most_confused

from .panel import EventPanel
from .report_tables import OVERALL_KEYS, confusion_table, metrics_table
from .theming import chart_colors

TABLE_GAP = 4
"""Columns between the confusion matrix and the per-class table (#matrix's margin)."""


class FinalReport(EventPanel, VerticalScroll):
    """What the run achieved (Finished) or why it failed (Failed); stays until quit."""

    DEFAULT_CSS = """
    FinalReport { height: 1fr; padding: 0 1; }
    FinalReport #summary { height: auto; }
    FinalReport #tables { height: auto; }
    FinalReport #matrix { width: auto; margin-right: 4; }
    FinalReport #metrics { width: auto; }
    FinalReport #confused { height: auto; }
    FinalReport #tables.-stacked { layout: vertical; }
    FinalReport #tables.-stacked #matrix { margin-right: 0; margin-bottom: 1; }
    FinalReport #failure { height: auto; border: heavy $error; padding: 1 2; display: none; }
    FinalReport.-failed #failure { display: block; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.finished: ev.Finished | None = None
        self.failure: str | None = None
        self.normalized = False
        """The confusion matrix shows each true class's shares rather than counts."""
        self._tables: list[RenderableType] = []
        """The matrix and per-class tables shown, side by side if they fit."""

    def compose(self) -> ComposeResult:
        yield Static(id="failure")
        yield Static(id="summary")
        with Horizontal(id="tables"):
            yield Static(id="matrix")
            yield Static(id="metrics")
        yield Static(id="confused")

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Keep the outcome of the run."""

    @take.register
    def _(self, event: ev.Failed) -> None:
        self.show_failure(event.message)

    @take.register
    def _(self, event: ev.Finished) -> None:
        self.finished = event
        self.mark_dirty()

    @take.register
    def _(self, event: ev.StageStarted | ev.RunStarted) -> None:
        if self.finished is not None or self.failure is not None:
            self.finished = self.failure = None  # a new session: the old ending is history
            self.remove_class("-failed")
            self.mark_dirty()

    def show_failure(self, message: str) -> None:
        """Show why the run failed, on screen rather than only in a traceback."""
        self.failure = message
        self.add_class("-failed")
        self.mark_dirty()

    def toggle_normalized(self) -> None:
        """Switch the confusion matrix between counts and shares of each true class."""
        self.normalized = not self.normalized
        self.mark_dirty()

    def redraw(self) -> None:
        """Render the outcome in the current theme's colours."""
        if self.failure is None and self.finished is None:
            for part in ("#failure", "#summary", "#matrix", "#metrics", "#confused"):
                self.query_one(part, Static).update("")
            return
        if self.failure is not None:
            self.query_one("#failure", Static).update(
                Content.assemble(("Training failed\n\n", "bold $error"), self.failure)
            )
        if self.finished is not None:
            self._show_finished(self.finished)

    def _show_finished(self, run: ev.Finished) -> None:
        self.query_one("#summary", Static).update(summary(run))
        self._tables = []
        if run.confusion_matrix:
            matrix = confusion_table(run.confusion_matrix, run.class_names,
                                     self._matrix_colors(), self.normalized)
            self._tables.append(matrix)
            self.query_one("#matrix", Static).update(matrix)
            pairs = most_confused(run.confusion_matrix, run.class_names)
            self.query_one("#confused", Static).update(
                Content.assemble(("Most confused (true -> predicted): ", "bold"),
                                 confused_text(pairs)))
        if run.metrics:
            scores = metrics_table(run.metrics)
            self._tables.append(scores)
            self.query_one("#metrics", Static).update(scores)
        self._arrange()

    def on_resize(self, event: events.Resize) -> None:
        """Put the tables side by side, or one above the other, for the new width."""
        self._arrange()

    def _arrange(self) -> None:
        console = self.app.console
        options = console.options.update_width(1000)
        needed = sum(console.measure(table, options=options).maximum for table in self._tables)
        gap = TABLE_GAP * (len(self._tables) - 1)
        stacked = needed + gap > self.scrollable_content_region.width
        self.query_one("#tables").set_class(stacked, "-stacked")

    def _matrix_colors(self) -> dict[str, str]:
        variables = self.app.theme_variables
        chart = chart_colors(self.app.theme)
        return {
            "base": variables["background"],
            "muted": variables["foreground-muted"],
            "correct": chart["correct"],
            "wrong": chart["wrong"],
        }


def summary(run: ev.Finished) -> Content:
    """Why and when the run ended, the best monitored value and the overall test metrics."""
    elapsed = formats.duration(run.elapsed)
    done = f"{run.epochs_completed} epochs, {run.global_step:,} steps in {elapsed}"
    if run.best_monitor is not None:
        best = formats.metric(run.best_monitor, run.best_value)
        done += f"; best {run.best_monitor} {best} at epoch {run.best_epoch}"
    lines = [Content.assemble(("Finished: ", "bold $primary"), run.reason), Content(done)]
    if run.metrics:
        split = str(run.metrics.get("split", "test")).capitalize()  # (code of your own)
        parts: list[str | tuple[str, str]] = [(f"{split} ", "bold")]
        for key in OVERALL_KEYS:
            parts += [f"{key} ", (f"{formats.metric(key, run.metrics.get(key, 0.0))}  ", "bold")]
        lines.append(Content.assemble(*parts))
    return Content("\n").join(lines)
