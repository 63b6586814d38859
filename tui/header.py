"""Header panel: what is trained on what, where, the run state and the elapsed time."""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatchmethod

from textual.app import ComposeResult
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

from trainui.core import events as ev

from .panel import EventPanel, set_text
from .timing import format_duration

STATE_STYLES = {
    "starting": "$foreground",
    "running": "$success",
    "pausing": "$warning",
    "paused": "$warning",
    "resuming": "$warning",
    "stopping": "$warning",
    "evaluating": "$primary",
    "finished": "$primary",
    "failed": "$error",
}
FINAL_STATES = ("finished", "failed")


class RunHeader(EventPanel, Widget):
    """Run name, model, data, device, state (running, paused, ...) and elapsed time.

    Two one-line widgets: the clock ticking once a second repaints only the state line.
    """

    DEFAULT_CSS = """
    RunHeader { height: 2; padding: 0 1; background: $panel; }
    RunHeader Static { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, clock: Callable[[], float], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self.state = "starting"
        self._started: ev.RunStarted | None = None
        self._elapsed_final: float | None = None
        self._shown_elapsed = ""

    def compose(self) -> ComposeResult:
        yield Static(id="state-line")
        yield Static(id="run-line")

    def note_request(self, state: str) -> None:
        """Show a state the user just asked for (pausing, resuming, stopping)."""
        if self.state not in FINAL_STATES:
            self._set_state(state)

    def elapsed(self) -> float | None:
        """Seconds since the run started, by the injected clock; fixed once it is over."""
        if self._elapsed_final is not None:
            return self._elapsed_final
        if self._started is None:
            return None
        return self._clock() - self._started.time

    def needs_redraw(self) -> bool:
        """Also redraw when the shown elapsed time would change."""
        return super().needs_redraw() or format_duration(self.elapsed()) != self._shown_elapsed

    def redraw(self) -> None:
        """Show the two header lines."""
        self._shown_elapsed = format_duration(self.elapsed())
        set_text(self.query_one("#state-line", Static), self._state_line())
        set_text(self.query_one("#run-line", Static), self._run_line())

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow the events that change the state."""

    @take.register
    def _(self, event: ev.RunStarted) -> None:
        self._started = event
        self._set_state("running")

    @take.register
    def _(self, event: ev.Paused) -> None:
        if self.state != "stopping":
            self._set_state("paused")

    @take.register
    def _(self, event: ev.Resumed) -> None:
        if self.state != "stopping":
            self._set_state("running")

    @take.register
    def _(self, event: ev.StopRequested | ev.NonFiniteLoss) -> None:
        self._set_state("stopping")

    @take.register
    def _(self, event: ev.TrainingStopped) -> None:
        self._set_state("evaluating")

    @take.register
    def _(self, event: ev.Finished) -> None:
        self._elapsed_final = event.elapsed
        self._set_state("finished")

    @take.register
    def _(self, event: ev.Failed) -> None:
        if self._started is not None:
            self._elapsed_final = event.time - self._started.time
        self._set_state("failed")

    def _set_state(self, state: str) -> None:
        self.state = state
        self.mark_dirty()

    def _state_line(self) -> Content:
        name = self._started.run_name if self._started else "trainui"
        style = f"bold reverse {STATE_STYLES[self.state]}"
        badge = Content.styled(f" {self.state.upper()} ", style)
        return Content.assemble(
            badge, " ", (name, "bold"), "  elapsed ", (self._shown_elapsed, "bold")
        )

    def _run_line(self) -> Content:
        run = self._started
        if run is None:
            return Content.styled("waiting for the run to start...", "dim")
        return Content.assemble(
            (run.model_name, "bold"), f" ({run.parameter_count:,} params) | ",
            (run.dataset_name, "bold"),
            f" train {run.train_size:,} val {run.val_size:,} test {run.test_size:,} | ",
            ("device ", "dim"), (run.device, "bold"),
        )  # fmt: skip
