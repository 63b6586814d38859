"""Progress panel: epoch and step bars, samples per second and the time left."""

from __future__ import annotations

from collections.abc import Callable
from functools import singledispatchmethod

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.reactive import var
from textual.widget import Widget
from textual.widgets import Label, ProgressBar

from trainui.core import events as ev
from trainui.core.formats import rate as format_rate

from .panel import EventPanel, set_text
from .timing import format_duration, seconds_per_step


class QuietProgressBar(ProgressBar):
    """A ProgressBar that repaints only when what it shows changes.

    The stock bar estimates its own ETA (which this panel does not show) on every update
    and once a second, and repaints itself whenever `progress` changes by any amount.
    """

    _display_eta: var[int | None] = var[int | None](None)
    """Not shown (show_eta=False): a var, so computing it repaints nothing."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._shown: tuple[float, int, int] | None = None

    def update(self, **kwargs: object) -> None:
        """Ignore the stock once-a-second refresh (called without arguments)."""
        if kwargs:
            super().update(**kwargs)  # type: ignore[arg-type]

    def show(self, progress: float, total: float) -> None:
        """Set progress and total, if that moves the bar by half a cell or the percentage;
        an unknown total (0) leaves the bar empty (not animated: no bytes over SSH)."""
        if total <= 0:
            progress, total = 0.0, 1.0
        fraction = min(1.0, max(0.0, progress / total))
        cells = max(1, self.size.width) * 2
        shown = (total, int(fraction * cells), int(fraction * 100))
        if shown != self._shown:
            self._shown = shown
            super().update(total=total, progress=progress)


class ProgressPanel(EventPanel, Widget):
    """Epoch i/N and step bars, throughput and ETA (counting down by the injected clock)."""

    DEFAULT_CSS = """
    ProgressPanel { height: 2; padding: 0 1; }
    ProgressPanel Horizontal { height: 1; }
    ProgressPanel .name { width: auto; min-width: 12; padding-right: 1; }
    ProgressPanel ProgressBar { width: 1fr; }
    ProgressPanel ProgressBar Bar { width: 1fr; }
    ProgressPanel .rate { width: auto; min-width: 17; padding-left: 1; text-align: right; }
    """

    def __init__(self, clock: Callable[[], float], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self._run: ev.RunStarted | None = None
        self._last: ev.Progress | None = None
        self._epochs_done = 0
        self._epoch_seconds = 0.0
        self._paused_seconds = 0.0
        self._paused_since: float | None = None
        self._over = False
        self._shown_eta = ""

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label("Epoch  -/-", id="epoch-label", classes="name")
            yield QuietProgressBar(total=1, show_eta=False, id="epoch-bar")
            yield Label("", id="rate", classes="rate")
        with Horizontal():
            yield Label("Step   -/-", id="step-label", classes="name")
            yield QuietProgressBar(total=1, show_eta=False, id="step-bar")
            yield Label("", id="eta", classes="rate")

    def remaining_seconds(self) -> float | None:
        """Estimated seconds to the end of the run, counting down between events."""
        run, last = self._run, self._last
        if (run is None or last is None or self._over or not last.steps_per_epoch
                or not last.epochs):
            return None  # (a run of your own code may not say how long an epoch is)
        active = last.time - run.time - self._paused_seconds
        measured = last.global_step - run.start_epoch * run.steps_per_epoch
        mean_epoch = self._epoch_seconds / self._epochs_done if self._epochs_done else None
        per_step = seconds_per_step(active, measured, mean_epoch, last.steps_per_epoch)
        if per_step is None:
            return None
        left = (last.epochs * last.steps_per_epoch - last.global_step) * per_step
        since = (self._paused_since or self._clock()) - last.time
        return max(0.0, left - max(0.0, since))

    def needs_redraw(self) -> bool:
        """Also redraw when the shown ETA would change."""
        return super().needs_redraw() or self._eta_text() != self._shown_eta

    def redraw(self) -> None:
        """Update bars and labels from the latest progress."""
        last = self._last
        self._shown_eta = self._eta_text()
        set_text(self.query_one("#eta", Label), self._shown_eta)
        if last is None:
            return
        width = len(str(last.epochs))
        of = f"/{last.epochs}" if last.epochs else ""  # (an unknown count: no bar either)
        set_text(self.query_one("#epoch-label", Label), f"Epoch {last.epoch:>{width}}{of}")
        self.query_one("#epoch-bar", QuietProgressBar).show(
            last.epoch - 1 + last.step / max(1, last.steps_per_epoch), last.epochs
        )
        steps = last.steps_per_epoch
        step = f"{last.step:>{len(str(steps))}}/{steps}" if steps else f"{last.step}"
        set_text(self.query_one("#step-label", Label), f"Step {step}")  # fixed width
        self.query_one("#step-bar", QuietProgressBar).show(last.step, last.steps_per_epoch)
        rate = last.samples_per_second
        set_text(self.query_one("#rate", Label), format_rate(rate) if rate else "")

    def _eta_text(self) -> str:
        if self._over:
            return "done"
        return f"ETA {format_duration(self.remaining_seconds())}"

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow progress, epoch times and pauses."""

    @take.register
    def _(self, event: ev.RunStarted) -> None:
        self._run, self._over = event, False
        self._paused_since, self._paused_seconds = None, 0.0
        self.mark_dirty()

    @take.register
    def _(self, event: ev.Progress) -> None:
        self._last = event
        self.mark_dirty()

    @take.register
    def _(self, event: ev.EpochEnded) -> None:
        self._epochs_done += 1
        self._epoch_seconds += event.epoch_time

    @take.register
    def _(self, event: ev.Paused) -> None:
        self._paused_since = event.time

    @take.register
    def _(self, event: ev.Resumed) -> None:
        self._paused_since = None
        self._paused_seconds += event.paused_seconds

    @take.register
    def _(self, event: ev.TrainingStopped | ev.Finished | ev.Failed) -> None:
        self._over = True
        self.mark_dirty()
