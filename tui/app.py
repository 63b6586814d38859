"""The Textual app: composes the panels, routes core events to them and keys to a Controller.

Everything else lives where it belongs: when to repaint (redraw.py), what q and Ctrl+C do
(quitting.py), the keys and their help (keys.py), the terminal and signals (terminal.py).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.theme import Theme
from textual.widget import Widget
from textual.widgets import Footer

from trainui.core.control import LR_SET, STOP_AFTER_EPOCH, STOP_NOW, Controller
from trainui.core.errors import TrainuiError, one_line
from trainui.core.events import Event, Failed, Finished, RolledBack, RunStarted, StageStarted
from trainui.core.notify import ending_of, terminal_bytes
from trainui.core.outcome import ExitCode, exit_code_of

from .accuracy_chart import AccuracyChart
from .chart import EventChart
from .early_stopping_panel import EarlyStoppingPanel
from .end_view import RunArea, end_action_shown
from .feed import AppFeed, Feed, Job
from .final_report import FinalReport
from .hardware_panel import HardwarePanel, HardwareSource
from .header import RunHeader
from .help_screen import HelpScreen
from .keys import KEY_ACTIONS, RUN_ACTIONS, bindings
from .log_panel import EventLog
from .loss_chart import LossChart
from .lr_panel import LearningRatePanel
from .lr_screen import LearningRateScreen, LRChange
from .messages import (
    JobEnded,
    SummaryRestored,
    TrainingEvent,
    TrainingProgress,
)
from .output_screen import OutputScreen
from .panel import EventPanel
from .progress import ProgressPanel
from .quit_screen import LEAVE, STOP, ConfirmQuitScreen
from .quitting import (
    QuitAction,
    ViewState,
    on_interrupt,
    on_quit_key,
    view_exit_code,
)
from .redraw import CHART_RATE, REFRESH_RATE, RedrawSchedule
from .requests import PendingRequests
from .size_guard import MIN_HEIGHT, MIN_WIDTH, TooSmall
from .terminal import detach_from_terminal, exit_soon, watch_terminal
from .terminal_driver import TerminalDriver
from .theming import next_theme, textual_themes

CHECK_TRAINER_EVERY = 1.0
"""Seconds between looks at the trainer process (is it stopped?)."""


def run_job(job: Job, feed: Feed) -> str | None:
    """Run the job; return None, or one line naming the exception it raised."""
    try:
        job(feed)
    except Exception as exc:  # shown on screen; the job should have emitted Failed itself
        return one_line(exc)
    return None


class TrainApp(App[None]):
    """Live view of one training run, with keys that pause, save and stop it."""

    CSS_PATH = "app.tcss"
    TITLE = "trainui"
    ENABLE_COMMAND_PALETTE = False
    HORIZONTAL_BREAKPOINTS = [(0, "-too-narrow"), (MIN_WIDTH, "-narrow"), (100, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-too-short"), (MIN_HEIGHT, "-short"), (32, "-tall")]
    BINDINGS = bindings()

    def __init__(
        self,
        job: Job,
        control: Controller,
        *,
        theme: str = "dark",
        refresh_rate: float = REFRESH_RATE,
        clock: Callable[[], float] = time.time,
        watching: bool = False,
        chart_rate: float = CHART_RATE,
        trainer_stopped: Callable[[], bool] | None = None,
        exit_promptly: bool = False,
        run_name: str | None = None,
        output_log: Path | None = None,
        hardware: HardwareSource | None = None,
        can_leave_running: bool = False,
    ) -> None:
        if refresh_rate <= 0 or chart_rate <= 0:
            raise ValueError("refresh_rate and chart_rate must be positive")
        super().__init__()
        self._job, self._control, self._clock = job, control, clock
        self._refresh_rate, self._chart_rate = refresh_rate, chart_rate
        self._panels: list[EventPanel] = []
        self._redraw: RedrawSchedule | None = None
        self._loss_chart: LossChart | None = None
        self._lr_panel: LearningRatePanel | None = None
        self._body: Widget | None = None
        self.outcome: ExitCode | None = None
        """The run's exit status once it is over."""
        self.job_running = True
        self.interrupted_with: ExitCode | None = None
        """Set by Ctrl+C (130) or SIGTERM (143): the view's exit status."""
        self._quit_when_done = False
        self.watching = watching
        """Watching another process's run: quitting leaves its training alone."""
        self.terminal_lost = False
        """The terminal went away (SSH drop): the app closed, training goes on."""
        self.can_leave_running = can_leave_running
        """The trainer is a process of its own: quitting may leave it training."""
        self.left_running = False
        """The user closed the view and left the training going on."""
        self._trainer_stopped = trainer_stopped
        self.run_name = run_name
        """Shown until the run's first event names it (a run still setting up)."""
        self.exit_promptly = exit_promptly
        """The job follows a run another process trains: on SIGTERM or a lost terminal the
        process ends within terminal.EXIT_GRACE_S, whatever state the app is in."""
        self._pending = PendingRequests()
        self._notify: str | None = None
        """The run's name when it was started with --notify (rung when it ends)."""
        self.output_log = output_log
        """The trainer's output file (`o` shows it), when the view knows one."""
        self._hardware = hardware
        """Samples the trainer's CPU, memory and GPUs for the hardware panel (None: no panel)."""
        for bundled in textual_themes():
            self.register_theme(bundled)
        self.theme = theme

    @property
    def exit_code(self) -> ExitCode:
        """130/143 after Ctrl+C/SIGTERM, else the run's outcome (0 while it runs)."""
        return view_exit_code(self.outcome, self.interrupted_with)

    def compose(self) -> ComposeResult:
        yield TooSmall()
        with Vertical(id="body"):
            with Horizontal(id="top"):
                yield RunHeader(self._clock, self.run_name, id="header")
                yield HardwarePanel(self._hardware, id="hardware")
            yield ProgressPanel(self._clock, id="progress")
            with RunArea(id="main"):
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
        """Once every panel is mounted: start the redraw timer and the job's thread."""
        self._panels = [widget for widget in self.query("*") if isinstance(widget, EventPanel)]
        self._redraw = RedrawSchedule(self._panels, refresh_rate=self._refresh_rate,
                                      chart_rate=self._chart_rate)
        self._loss_chart = self.query_one(LossChart)
        self._lr_panel = self.query_one(LearningRatePanel)
        self._body = self.query_one("#body")
        self.set_interval(self._redraw.tick_interval, self._tick)
        self.set_interval(CHECK_TRAINER_EVERY, self._check_trainer)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        exit_codes = (ExitCode.OK, ExitCode.TERMINATED) if self.exit_promptly else None
        watch_terminal(self, self._lose_terminal, self._terminate, self.action_interrupt,
                       exit_codes=exit_codes)
        # A daemon thread, not a Textual worker: a second Ctrl+C must not wait for it.
        threading.Thread(target=self._run_job, name="trainui-job", daemon=True).start()

    def get_driver_class(self) -> type[Driver]:
        """Textual's Linux driver, made safe for terminals that go away."""
        driver_class = super().get_driver_class()
        return TerminalDriver if driver_class is LinuxDriver else driver_class

    def _terminate(self) -> None:
        """SIGTERM: stop gracefully, save, and quit with the conventional code.

        A job in this process is waited for. A trainer in another process is asked to stop
        and save (it ends the run on its own) and the app quits at once."""
        self.interrupted_with = ExitCode.TERMINATED
        if not self.exit_promptly:
            self.action_interrupt()
            return
        if self._view_state().training:
            with contextlib.suppress(TrainuiError):  # a trainer that is gone needs no stop
                with contextlib.suppress(TrainuiError):
                    self._control.request_save()
                self._control.request_stop(STOP_NOW)
        self.exit(return_code=ExitCode.TERMINATED)

    def _lose_terminal(self) -> None:
        """SIGHUP or a hung-up terminal: close the app quietly; training carries on (a run
        paused from here stays paused until a watcher resumes it)."""
        if not self.terminal_lost:
            self.terminal_lost = True
            if self.exit_promptly:
                exit_soon(ExitCode.OK)
            detach_from_terminal()
            self.exit(return_code=ExitCode.OK)

    def _run_job(self) -> None:
        error = run_job(self._job, AppFeed(self))
        self.post_message(JobEnded(error))

    def _check_trainer(self) -> None:
        """Say so when the trainer is stopped, or has not answered a request in time."""
        if self.exiting:
            return
        if self._trainer_stopped is not None:
            self.query_one(RunHeader).note_trainer(self._trainer_stopped())
        stopped = self.query_one(RunHeader).trainer_stopped
        for note in self._pending.overdue(time.monotonic(), trainer_stopped=stopped):
            self.notify(note, severity="warning", timeout=8)

    def flush_panels(self) -> None:
        """Redraw every panel whose state changed, charts and log included, now."""
        self._flush_panels(now=True)

    def _tick(self) -> None:
        self._flush_panels(now=False)

    def _flush_panels(self, *, now: bool) -> None:
        if self.exiting or self._redraw is None:
            return  # widgets are being removed: nothing to draw into
        with self.batch_update():
            self._redraw.flush(now=now)

    @property
    def exiting(self) -> bool:
        """True once the app is closing: the job's thread may still post a message or two."""
        return (self.return_code is not None or not self.is_running or self._body is None
                or not self._body.is_attached)

    def on_training_event(self, message: TrainingEvent) -> None:
        """Route a core event to every panel; end the run on Finished or Failed, show it
        live again when a new session starts."""
        if self.exiting:
            return
        event = message.event
        self._pending.heard(event)
        self._route(event)
        if isinstance(event, StageStarted | RunStarted) and self.outcome is not None:
            self._reopen_run()
        if isinstance(event, RunStarted):
            self._notify = event.run_name if event.config.get("notify") else None
        ending = exit_code_of(event)
        if ending is not None:
            self._end_run(ending, event)
        if ending is not None or isinstance(event, RolledBack):
            self._tell(event)

    def _tell(self, event: Event) -> None:
        """`--notify`: the run just ended (or rolled back) before your eyes: the bell and a
        desktop notification."""
        told = ending_of(event) if self._notify is not None else None
        if told is not None:
            title, body = told
            self.write_to_terminal(terminal_bytes(f"trainui: {self._notify} {title}", body))

    def write_to_terminal(self, text: str) -> None:
        """Raw bytes for the terminal itself (not the screen), when there is one."""
        driver = self._driver
        if driver is not None and not self.is_headless:
            driver.write(text)
            driver.flush()

    def on_summary_restored(self, message: SummaryRestored) -> None:
        """What happened before the view opened: every panel takes it in."""
        if self.exiting:
            return
        summary = message.summary
        for panel in self._panels:
            panel.restore(summary)
        ending = summary.ending()
        outcome = None if ending is None else exit_code_of(ending)
        if outcome is not None:
            self._end_run(outcome, ending)
        else:
            self.flush_panels()

    def on_training_progress(self, message: TrainingProgress) -> None:
        """Route progress, with every step loss since the last one drawn."""
        if self.exiting:
            return
        if self._loss_chart is not None and self._lr_panel is not None:
            self._loss_chart.add_step_losses(message.step_losses)
            self._lr_panel.add_points(message.lr_points)
        self._route(message.event)

    def on_job_ended(self, message: JobEnded) -> None:
        """The job's thread returned: show an unreported error; quit if asked to."""
        self.job_running = False
        if self.exiting:
            return
        if self.outcome is None:  # the job died without saying why (or raised before Failed)
            reason = message.error or "the training job ended without a result"
            self._route(Failed(message=reason, time=self._clock()))
            self._end_run(ExitCode.FAILED)
        if self._quit_when_done:
            self.exit(return_code=self.exit_code)

    def _route(self, event: Event) -> None:
        for panel in self._panels:
            panel.take(event)

    def _end_run(self, outcome: ExitCode, ending: object = None) -> None:
        self.outcome = outcome
        # A run that scored nothing (your own code, without evaluate) keeps its charts.
        charts_only = isinstance(ending, Finished) and not ending.metrics
        self.query_one(RunArea).show_end(has_report=not charts_only)
        self.query_one("#body").add_class("-over")
        self.refresh_bindings()
        self.flush_panels()

    def _reopen_run(self) -> None:
        """A new session of the run began (it was resumed): back to the live view."""
        self.outcome = None
        self.query_one(RunArea).show_live()
        self.query_one("#body").remove_class("-over")
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Once the run is over, its keys leave the footer (on_key says why they do
        nothing); `m` is there while there is more than one metric to chart."""
        if action == "next_metric":
            charts = self.query(AccuracyChart)
            return bool(charts) and len(charts.first().choices()) > 1
        if action == "show_output":
            return self.output_log is not None
        if action in ("switch_report", "normalize_matrix"):
            return end_action_shown(action, self.query_one(RunArea))
        return not (action in RUN_ACTIONS and self.outcome is not None)

    def on_key(self, event: events.Key) -> None:
        """A run key pressed once the run is over says so, rather than doing nothing."""
        action = KEY_ACTIONS.get(event.key)
        if action in RUN_ACTIONS and self.outcome is not None:
            state = self.query_one(RunHeader).state
            self.notify(f"The run is over ({state}): nothing to {RUN_ACTIONS[action]}",
                        severity="warning")

    def _request(self, name: str, send: Callable[[], object]) -> bool:
        """Send a request to the trainer; say on screen why it could not reach it."""
        try:
            send()
        except TrainuiError as exc:
            self.notify(str(exc), title="Request not sent", severity="error", timeout=8)
            return False
        self._pending.sent(name, time.monotonic())
        return True

    def action_toggle_pause(self) -> None:
        """Pause or resume training."""
        resuming = self._control.paused
        if self._request("resume" if resuming else "pause", self._control.toggle_pause):
            self.query_one(RunHeader).note_request("resuming" if resuming else "pausing")
            self.flush_panels()

    def action_save(self) -> None:
        """Ask for a checkpoint at the next step."""
        if self._request("save", self._control.request_save):
            when = "now (training stays paused)" if self._control.paused else "at the next step"
            self.notify(f"Saving a checkpoint {when}")

    def action_finish_epoch(self) -> None:
        """Finish after the current epoch, then evaluate."""
        if self._request("stop", lambda: self._control.request_stop(STOP_AFTER_EPOCH)):
            self.query_one(RunHeader).note_request("stopping")
            self.notify("Finishing after this epoch, then evaluating")
            self.flush_panels()

    def action_set_lr(self) -> None:
        """Ask for a new learning rate, then send it."""
        current = self.query_one(LearningRatePanel).current
        self.push_screen(LearningRateScreen(current), self._lr_answered)

    def _lr_answered(self, change: LRChange | None) -> None:
        if change is None:
            return
        mode, value = change
        if self._request("lr", lambda: self._control.request_lr(value, mode)):
            what = f"to {value:.6g}" if mode == LR_SET else f"by a factor of {value:.6g}"
            self.notify(f"Changing the learning rate {what} at the next step")

    def action_switch_report(self) -> None:
        """At the end of a run: the charts or the final report (when both do not fit)."""
        self.query_one(RunArea).switch()

    def action_normalize_matrix(self) -> None:
        """The confusion matrix in counts or in shares of each true class."""
        self.query_one(FinalReport).toggle_normalized()
        self.flush_panels()

    def action_scroll_log(self, where: str) -> None:
        """Scroll the event log: `up`/`down` a page, `end` back to the newest line."""
        self.query_one(EventLog).scroll_by_key(where)

    def action_next_metric(self) -> None:
        """Chart the next logged metric."""
        chart = self.query_one(AccuracyChart)
        if len(chart.choices()) > 1:
            chart.next_metric()
            self.flush_panels()

    def action_chart_view(self, change: str) -> None:
        """Change how every chart shows its series: `log`, `window`, `smoother`, `rougher`."""
        for chart in self.query(EventChart):
            chart.change_view(change)
        self.flush_panels()

    def action_show_output(self) -> None:
        """Show the trainer's own output, following it."""
        if self.output_log is not None:
            self.push_screen(OutputScreen(self.output_log))

    def action_next_theme(self) -> None:
        """Switch to the next bundled theme."""
        self.theme = next_theme(self.theme)

    def action_help(self) -> None:
        """Show the keys."""
        self.push_screen(HelpScreen(self.watching))

    def _view_state(self) -> ViewState:
        return ViewState(training=self.job_running and not self.watching,
                         stopping=self._quit_when_done)

    def action_request_quit(self) -> None:
        """Quit; while training runs, ask first (a watcher just leaves)."""
        action = on_quit_key(self._view_state())
        if action is QuitAction.EXIT:
            self.exit(return_code=self.exit_code)
        elif action is QuitAction.ALREADY_STOPPING:
            self.notify("Stopping: quitting once the checkpoint is saved (Ctrl+C quits at once)")
        else:
            self.push_screen(ConfirmQuitScreen(self.can_leave_running), self._quit_answered)

    async def action_quit(self) -> None:
        """Ctrl+Q asks like q does."""
        self.action_request_quit()

    def action_interrupt(self) -> None:
        """First Ctrl+C stops gracefully and quits when saved; the second quits at once."""
        action = on_interrupt(self._view_state())
        if action is QuitAction.EXIT:
            if self._quit_when_done and self.interrupted_with is None:
                self.interrupted_with = ExitCode.INTERRUPTED
            self.exit(return_code=self.exit_code)
            return
        if self.interrupted_with is None:
            self.interrupted_with = ExitCode.INTERRUPTED
        self._stop_and_quit()
        self.notify("Stopping gracefully; press Ctrl+C again to quit at once", severity="warning")

    def _quit_answered(self, choice: str | None) -> None:
        if choice == STOP:
            self._stop_and_quit()
        elif choice == LEAVE:
            self.left_running = True
            self.exit(return_code=ExitCode.OK)

    def _stop_and_quit(self) -> None:
        def stop() -> None:
            # Save first (the trainer takes both at its next step); a trainer still setting
            # up has no channel yet, so only the stop reaches it.
            with contextlib.suppress(TrainuiError):
                self._control.request_save()
            self._control.request_stop(STOP_NOW)

        if self._request("stop", stop):
            self._quit_when_done = True
            self.query_one(RunHeader).note_request("stopping")
            self.flush_panels()
        else:
            self.exit(return_code=self.exit_code)  # nothing trains: nothing to wait for

    def _theme_changed(self, theme: Theme) -> None:
        for panel in self._panels:
            panel.mark_dirty()
        self.flush_panels()


def run_app(
    job: Job,
    control: Controller,
    *,
    theme: str = "dark",
    refresh_rate: float = REFRESH_RATE,
    watching: bool = False,
    chart_rate: float = CHART_RATE,
    trainer_stopped: Callable[[], bool] | None = None,
    exit_promptly: bool = False,
    run_name: str | None = None,
    output_log: Path | None = None,
    hardware: HardwareSource | None = None,
    can_leave_running: bool = False,
) -> ViewResult:
    """Run the Textual app; `job(sink)` feeds it a run's events on a thread of its own.

    `job` calls sink(event) for every event and returns once the run ended (Finished or
    Failed): following a run directory (`trainui.tui.watch.follow`) or training in this
    process. Returns the exit status (0 finished, 1 failed, 130 Ctrl+C, 143 SIGTERM),
    whether the terminal went away while the job was still running, and whether the user
    left it training (offered with `can_leave_running`: the trainer is a process of its
    own). `hardware` feeds the hardware panel (`HardwareSampler.for_run(run_dir)`);
    without it the panel stays hidden.
    """
    app = TrainApp(job, control, theme=theme, refresh_rate=refresh_rate, watching=watching,
                   chart_rate=chart_rate, trainer_stopped=trainer_stopped,
                   exit_promptly=exit_promptly, run_name=run_name, output_log=output_log,
                   hardware=hardware, can_leave_running=can_leave_running)
    app.run()
    code = app.return_code if app.return_code is not None else app.exit_code
    return ViewResult(code, app.terminal_lost, app.left_running)


class ViewResult(NamedTuple):
    """How a view ended."""

    code: int
    terminal_lost: bool
    left_running: bool
