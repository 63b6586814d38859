"""The Textual app: composes the panels, routes core events to them and keys to Control."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import ContentSwitcher, Footer

from trainui.core.control import STOP_AFTER_EPOCH, STOP_NOW, Control
from trainui.core.events import Event, Failed, Finished, Sink

from .accuracy_chart import AccuracyChart
from .early_stopping import EarlyStoppingPanel
from .event_log import EventLog
from .final_report import FinalReport
from .header import RunHeader
from .help_screen import HelpScreen
from .loss_chart import LossChart
from .lr_panel import LearningRatePanel
from .messages import JobEnded, TrainingEvent, TrainingProgress, event_message
from .panel import EventPanel
from .progress import ProgressPanel
from .quit_screen import ConfirmQuitScreen
from .size_guard import MIN_HEIGHT, MIN_WIDTH, TooSmall
from .terminal import detach_from_terminal, watch_terminal
from .theming import next_theme, textual_themes

Job = Callable[[Sink], object]
EXIT_FINISHED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 130, 143
RUN_ACTIONS = ("toggle_pause", "save", "finish_epoch")
CHART_RATE = 1.0
"""Default redraws per second, at most, of the charts and the event log. A chart redraw costs
~15 ms of the interpreter the training thread shares and re-sends the whole chart area
(~10 KB for both charts at 120x40); a new log line scrolls, so re-sends, the whole log."""


def run_job(job: Job, sink: Sink) -> str | None:
    """Run the job; return None, or one line naming the exception it raised."""
    try:
        job(sink)
    except Exception as exc:  # shown on screen; the job should have emitted Failed itself
        return f"{type(exc).__name__}: {exc}"
    return None


class TrainApp(App[None]):
    """Live view of one training run, with keys that pause, save and stop it."""

    CSS_PATH = "app.tcss"
    TITLE = "trainui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-too-narrow"), (MIN_WIDTH, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-too-short"), (MIN_HEIGHT, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("p", "toggle_pause", "Pause/Resume"),
        Binding("space", "toggle_pause", "Pause/Resume", show=False),
        Binding("s", "save", "Save"),
        Binding("e", "finish_epoch", "End after epoch"),
        Binding("t", "next_theme", "Theme"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("q", "request_quit", "Quit"),
        Binding("ctrl+c", "interrupt", "Stop", show=False, priority=True),
    ]

    def __init__(
        self,
        job: Job,
        control: Control,
        *,
        theme: str = "dark",
        refresh_rate: float = 4.0,
        clock: Callable[[], float] = time.time,
        watching: bool = False,
        chart_rate: float = CHART_RATE,
    ) -> None:
        if refresh_rate <= 0 or chart_rate <= 0:
            raise ValueError("refresh_rate and chart_rate must be positive")
        super().__init__()
        self._job, self._control, self._clock = job, control, clock
        self._refresh_rate = refresh_rate
        self._slow_interval = 1 / min(chart_rate, refresh_rate)
        self._slow_drawn_at = -math.inf
        self._panels: list[EventPanel] = []
        self._text_panels: list[EventPanel] = []
        self._slow_panels: list[EventPanel] = []
        """Charts and the event log: flushed at most chart_rate times a second."""
        self._loss_chart: LossChart | None = None
        self._lr_panel: LearningRatePanel | None = None
        self._body: Widget | None = None
        self.outcome: int | None = None
        """EXIT_FINISHED or EXIT_FAILED once the run is over."""
        self.job_running = True
        self.interrupted = False
        self._quit_when_done = False
        self.watching = watching
        """Watching another process's run: quitting leaves its training alone."""
        self.interrupt_code = EXIT_INTERRUPTED
        self.terminal_lost = False
        """The terminal went away (SSH drop): the app closed, training goes on."""
        for bundled in textual_themes():
            self.register_theme(bundled)
        self.theme = theme

    @property
    def exit_code(self) -> int:
        """130 after Ctrl+C, else 1 for a failed run and 0 for a finished one."""
        if self.interrupted:
            return self.interrupt_code
        return EXIT_FINISHED if self.outcome is None else self.outcome

    def compose(self) -> ComposeResult:
        yield TooSmall()
        with Vertical(id="body"):
            yield RunHeader(self._clock, id="header")
            yield ProgressPanel(self._clock, id="progress")
            with ContentSwitcher(initial="live", id="main"):
                with Horizontal(id="live"):
                    yield LossChart(id="loss")
                    yield AccuracyChart(id="accuracy")
                yield FinalReport(id="report")
            with Horizontal(id="status"):
                yield EarlyStoppingPanel(id="early-stopping")
                yield LearningRatePanel(id="lr")
            yield EventLog(id="log")
        yield Footer()

    def on_ready(self) -> None:
        """Once every panel is mounted: start the redraw timer and the training thread."""
        self._panels = [widget for widget in self.query("*") if isinstance(widget, EventPanel)]
        self._text_panels = [panel for panel in self._panels if not panel.slow]
        self._slow_panels = [panel for panel in self._panels if panel.slow]
        self._loss_chart = self.query_one(LossChart)
        self._lr_panel = self.query_one(LearningRatePanel)
        self._body = self.query_one("#body")
        self.set_interval(1 / self._refresh_rate, self._tick)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        watch_terminal(self, self._lose_terminal, self._terminate, self.action_interrupt)
        # A daemon thread, not a Textual worker: a second Ctrl+C must not wait for it.
        threading.Thread(target=self._run_job, name="trainui-job", daemon=True).start()

    def _terminate(self) -> None:
        """SIGTERM: stop gracefully, save, and quit with the conventional code."""
        self.interrupt_code = EXIT_TERMINATED
        self.action_interrupt()

    def _lose_terminal(self) -> None:
        """SIGHUP or a hung-up terminal: close the app quietly; training carries on."""
        if not self.terminal_lost:
            self.terminal_lost = True
            detach_from_terminal()
            self.exit(return_code=EXIT_FINISHED)

    def _run_job(self) -> None:
        error = run_job(self._job, self._post_event)
        self.post_message(JobEnded(error))

    def _post_event(self, event: Event) -> None:
        self.post_message(event_message(event))

    def flush_panels(self) -> None:
        """Redraw every panel whose state changed, charts and log included, now."""
        if self.exiting:
            return  # widgets are being removed: nothing to draw into
        with self.batch_update():
            for panel in self._text_panels:
                panel.flush()
            self._flush_slow()

    def _tick(self) -> None:
        """The throttled tick: text panels that changed; charts and log at most every
        1/chart_rate seconds (and only those with new data)."""
        if self.exiting:
            return
        with self.batch_update():
            for panel in self._text_panels:
                panel.flush()
            if time.monotonic() - self._slow_drawn_at >= self._slow_interval:
                self._flush_slow()

    def _flush_slow(self) -> None:
        # A list, not a generator: every slow panel with new data redraws in the same frame.
        if any([panel.flush() for panel in self._slow_panels]):
            self._slow_drawn_at = time.monotonic()

    @property
    def exiting(self) -> bool:
        """True once the app is closing: the training thread may still post a message or two."""
        return self.return_code is not None or self._body is None or not self._body.is_attached

    def on_training_event(self, message: TrainingEvent) -> None:
        """Route a core event to every panel; end the run on Finished or Failed."""
        if self.exiting:
            return
        self._route(message.event)
        if isinstance(message.event, Finished):
            # As headless: a run stopped by a non-finite loss did not succeed.
            failed = message.event.cause == "non_finite_loss"
            self._end_run(EXIT_FAILED if failed else EXIT_FINISHED)
        elif isinstance(message.event, Failed):
            self._end_run(EXIT_FAILED)

    def on_training_progress(self, message: TrainingProgress) -> None:
        """Route progress, with every step loss since the last one drawn."""
        if self.exiting:
            return
        if self._loss_chart is not None and self._lr_panel is not None:
            self._loss_chart.add_step_losses(message.step_losses)
            self._lr_panel.add_points(message.lr_points)
        self._route(message.event)

    def on_job_ended(self, message: JobEnded) -> None:
        """The training thread returned: show an unreported error; quit if asked to."""
        self.job_running = False
        if self.exiting:
            return
        if self.outcome is None:  # the job died without saying why (or raised before Failed)
            reason = message.error or "the training job ended without a result"
            self._route(Failed(message=reason, time=self._clock()))
            self._end_run(EXIT_FAILED)
        if self._quit_when_done:
            self.exit(return_code=self.exit_code)

    def _route(self, event: Event) -> None:
        for panel in self._panels:
            panel.take(event)

    def _end_run(self, outcome: int) -> None:
        self.outcome = outcome
        self.query_one("#main", ContentSwitcher).current = "report"
        self.query_one("#body").add_class("-over")
        self.refresh_bindings()
        self.flush_panels()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Run keys are shown disabled once the run is over."""
        if action in RUN_ACTIONS and self.outcome is not None:
            return None
        return True

    def action_toggle_pause(self) -> None:
        """Pause or resume training."""
        paused = self._control.toggle_pause()
        self.query_one(RunHeader).note_request("pausing" if paused else "resuming")
        self.flush_panels()

    def action_save(self) -> None:
        """Ask for a checkpoint at the next step."""
        self._control.request_save()
        when = "when training resumes" if self._control.paused else "at the next step"
        self.notify(f"Saving a checkpoint {when}")

    def action_finish_epoch(self) -> None:
        """Finish after the current epoch, then evaluate."""
        self._control.request_stop(STOP_AFTER_EPOCH)
        self.query_one(RunHeader).note_request("stopping")
        self.notify("Finishing after this epoch, then evaluating")
        self.flush_panels()

    def action_next_theme(self) -> None:
        """Switch to the next bundled theme."""
        self.theme = next_theme(self.theme)

    def action_help(self) -> None:
        """Show the keys."""
        self.push_screen(HelpScreen())

    def action_request_quit(self) -> None:
        """Quit; while training runs, ask first (a watcher just leaves)."""
        if not self.job_running or self.watching:
            self.exit(return_code=self.exit_code)
        elif self._quit_when_done:
            self.notify("Stopping: quitting once the checkpoint is saved (Ctrl+C quits at once)")
        else:
            self.push_screen(ConfirmQuitScreen(), self._quit_answered)

    async def action_quit(self) -> None:
        """Ctrl+Q asks like q does."""
        self.action_request_quit()

    def action_interrupt(self) -> None:
        """First Ctrl+C stops gracefully and quits when saved; the second quits at once."""
        if not self.job_running or self.watching:
            self.exit(return_code=self.exit_code)
            return
        if self.interrupted:
            self.exit(return_code=EXIT_INTERRUPTED)
            return
        self.interrupted = True
        self._stop_and_quit()
        self.notify("Stopping gracefully; press Ctrl+C again to quit at once", severity="warning")

    def _quit_answered(self, stop: bool | None) -> None:
        if stop:
            self._stop_and_quit()

    def _stop_and_quit(self) -> None:
        self._quit_when_done = True
        self._control.request_save()
        self._control.request_stop(STOP_NOW)
        self.query_one(RunHeader).note_request("stopping")
        self.flush_panels()

    def _theme_changed(self, theme: Theme) -> None:
        for panel in self._panels:
            panel.mark_dirty()
        self.flush_panels()


def run_app(
    job: Job,
    control: Control,
    *,
    theme: str = "dark",
    refresh_rate: float = 4.0,
    watching: bool = False,
    chart_rate: float = CHART_RATE,
) -> tuple[int, bool]:
    """Run the Textual app; `job(sink)` runs the whole training on a worker thread.

    It calls sink(event) for every event and returns after emitting Finished or Failed.
    Returns the process exit code (0 finished, 1 failed, 130 interrupted by Ctrl+C) and
    whether the terminal went away while the job was still running.
    """
    app = TrainApp(
        job,
        control,
        theme=theme,
        refresh_rate=refresh_rate,
        watching=watching,
        chart_rate=chart_rate,
    )
    app.run()
    code = app.return_code if app.return_code is not None else app.exit_code
    return code, app.terminal_lost
