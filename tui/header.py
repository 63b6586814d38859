"""Header panel: what is trained on what, where, the run state, the elapsed time and the run's
directory."""

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
    "stalled": "$error",
    "evaluating": "$primary",
    "finished": "$primary",
    "failed": "$error",
}
FINAL_STATES = ("finished", "failed")
QUIET_AFTER = 5.0
"""Seconds without an event from a training run after which the header says so."""


class RunHeader(EventPanel, Widget):
    """Run name and directory, model, data, device, state (running, paused, ...) and elapsed
    time.

    Two one-line widgets: the clock ticking once a second repaints only the state line.
    Elapsed time counts earlier sessions of a resumed run too. While a trainer sets up, the
    second line says what it is doing; once it runs, a trainer that went quiet or was
    stopped (SIGSTOP) is named as such. A run of several processes (torchrun) shows how
    many, each one's samples per second and which is the slowest.
    """

    DEFAULT_CSS = """
    RunHeader { height: 2; padding: 0 1; background: $panel; }
    RunHeader Static { width: 1fr; height: 1; text-wrap: nowrap; text-overflow: ellipsis; }
    """

    def __init__(self, clock: Callable[[], float], run_name: str | None = None,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self._run_name = run_name or "trainui"
        """The run's name until its RunStarted says it."""
        self.state = "starting"
        self._started: ev.RunStarted | None = None
        self._stage: ev.StageStarted | None = None
        self._elapsed_final: float | None = None
        self._last_event_at: float | None = None
        self.trainer_stopped = False
        """The trainer process is stopped (SIGSTOP): it cannot answer."""
        self._shown = ("", "", "")
        self._rank_rates: list[float] = []

    def compose(self) -> ComposeResult:
        yield Static(id="state-line")
        yield Static(id="run-line")

    def note_request(self, state: str) -> None:
        """Show a state the user just asked for (pausing, resuming, stopping)."""
        if self.state not in FINAL_STATES:
            self._set_state(state)

    def note_trainer(self, stopped: bool) -> None:
        """What a look at the trainer process found: whether it is stopped."""
        if stopped != self.trainer_stopped:
            self.trainer_stopped = stopped
            self.mark_dirty()

    def elapsed(self) -> float | None:
        """Seconds the run has trained, earlier sessions included; fixed once it is over."""
        if self._elapsed_final is not None:
            return self._elapsed_final
        if self._started is None or self._stage is not None:
            return None  # a session is setting up
        return self._started.elapsed_before + self._clock() - self._started.time

    def quiet_for(self) -> float | None:
        """Seconds since the last event, when a running run has been quiet for a while."""
        if self.state != "running" or self._last_event_at is None:
            return None
        quiet = self._clock() - self._last_event_at
        return quiet if quiet >= QUIET_AFTER else None

    def needs_redraw(self) -> bool:
        """Also redraw when the clocks shown would change."""
        return super().needs_redraw() or self._texts() != self._shown

    def redraw(self) -> None:
        """Show the two header lines."""
        self._shown = self._texts()
        set_text(self.query_one("#state-line", Static), self._state_line())
        set_text(self.query_one("#run-line", Static), self._run_line())

    def _texts(self) -> tuple[str, str, str]:
        quiet = self.quiet_for()
        stage = "" if self._stage is None else format_duration(self._clock() - self._stage.time)
        return (format_duration(self.elapsed()),
                "" if quiet is None else format_duration(quiet), stage)

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow the events that change the state."""
        self._heard(event)

    def _heard(self, event: ev.Event) -> None:
        quiet = self.quiet_for() is not None
        self._last_event_at = event.time
        if quiet:
            self.mark_dirty()

    @take.register
    def _(self, event: ev.StageStarted) -> None:
        self._heard(event)  # stages come only while a session sets up, before RunStarted
        self._stage, self._elapsed_final = event, None
        self._set_state("starting")

    @take.register
    def _(self, event: ev.RunStarted) -> None:
        self._heard(event)
        self._started, self._stage, self._elapsed_final = event, None, None
        self._set_state("running")

    @take.register
    def _(self, event: ev.Progress | ev.EpochEnded) -> None:
        self._heard(event)
        if event.rank_samples_per_second and event.rank_samples_per_second != self._rank_rates:
            self._rank_rates = list(event.rank_samples_per_second)
            self.mark_dirty()

    @take.register
    def _(self, event: ev.Paused) -> None:
        self._heard(event)
        if self.state != "stopping":
            self._set_state("paused")

    @take.register
    def _(self, event: ev.Resumed) -> None:
        self._heard(event)
        if self.state != "stopping":
            self._set_state("running")

    @take.register
    def _(self, event: ev.StopRequested | ev.NonFiniteLoss) -> None:
        self._heard(event)
        self._set_state("stopping")

    @take.register
    def _(self, event: ev.TrainingStopped) -> None:
        self._heard(event)
        self._set_state("evaluating")

    @take.register
    def _(self, event: ev.Finished) -> None:
        self._elapsed_final = event.elapsed
        self._set_state("finished")

    @take.register
    def _(self, event: ev.Failed) -> None:
        started = self._started
        if started is not None and self._stage is None and self._elapsed_final is None:
            self._elapsed_final = started.elapsed_before + event.time - started.time
        self._set_state("failed")

    def _set_state(self, state: str) -> None:
        self.state = state
        self.mark_dirty()

    def _shown_state(self) -> str:
        if self.trainer_stopped and self.state not in FINAL_STATES:
            return "stalled"
        return self.state

    def _state_line(self) -> Content:
        name = self._started.run_name if self._started else self._run_name
        state = self._shown_state()
        badge = Content.styled(f" {state.upper()} ", f"bold reverse {STATE_STYLES[state]}")
        elapsed, quiet, _ = self._shown
        parts: list[str | tuple[str, str] | Content] = [
            badge, " ", (name, "bold"), "  elapsed ", (elapsed, "bold")]
        if self._started is not None:
            parts += ranks_parts(self._started.world_size, self._rank_rates)
        if state == "stalled":
            parts.append(("  the trainer process is stopped (SIGSTOP?): no training happens",
                          "$error"))
        elif quiet:
            parts.append((f"  no news from the trainer for {quiet}", "$warning"))
        if self._started is not None and self._started.run_dir:
            parts += [("  dir ", "dim"), self._started.run_dir]  # last: cut first when narrow
        return Content.assemble(*parts)

    def _run_line(self) -> Content:
        run, stage = self._started, self._stage
        if stage is not None and self.state == "failed":
            return Content.assemble(("failed while ", "dim"), (stage.stage, "bold"))
        if stage is not None:
            return Content.assemble(("starting: ", "dim"), (stage.stage, "bold"),
                                    (f" ({self._shown[2]})", "dim"))
        if run is None:
            return Content.styled("waiting for the trainer to start...", "dim")
        parts: list[str | tuple[str, str]] = [(run.model_name, "bold")]
        if run.parameter_count:
            parts.append(f" ({run.parameter_count:,} params)")
        if run.dataset_name:
            parts += [" | ", (run.dataset_name, "bold")]
        sizes = [f"{split} {size:,}" for split, size in (
            ("train", run.train_size), ("val", run.val_size), ("test", run.test_size)) if size]
        if sizes:
            parts.append(" " + " ".join(sizes))
        if run.device not in ("", "-"):
            parts += [" | ", ("device ", "dim"), (run.device, "bold")]
        return Content.assemble(*parts)


SHOWN_RANK_RATES = 4
"""Up to this many ranks, the header shows each one's samples per second."""
EVEN_PACE = 0.97
"""Ranks within this fraction of the fastest one's pace go at an even pace: none is named."""


def ranks_parts(world_size: int, rates: list[float]) -> list[str | tuple[str, str]]:
    """`  2 ranks 640 612/s slowest rank 1`: the processes of a job and their pace."""
    if world_size <= 1:
        return []
    parts: list[str | tuple[str, str]] = ["  ", (f"{world_size} ranks", "bold")]
    if len(rates) == world_size:
        if world_size <= SHOWN_RANK_RATES:
            parts.append(" " + " ".join(f"{rate:,.0f}" for rate in rates) + "/s")
        slowest = min(range(world_size), key=rates.__getitem__)
        if rates[slowest] < EVEN_PACE * max(rates):
            parts += [("  slowest ", "dim"), (f"rank {slowest}", "bold")]
        else:
            parts.append(("  even pace", "dim"))
    return parts
