"""`trainui compare`: runs side by side, one metric per epoch overlaid, and their table.

Each run has its own marker (its line is drawn with it) as well as its own colour, so the
runs stay apart without colour (NO_COLOR, colour-blind readers). Runs still training are
followed: their files are looked at every POLL_SECONDS and read again when they changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual_plotext import Plot

from trainui.core import formats
from trainui.core.compare_tables import records, table_cells
from trainui.core.run_compare import (
    RunFiles,
    best,
    goal,
    is_live,
    last_value,
    read_changed,
    shared_metrics,
)
from trainui.core.run_results import RunResults

from .chart import EventChart, Line
from .panel import set_text
from .theming import chart_colors, textual_themes

POLL_SECONDS = 2.0
"""How often the view looks at the runs' files for new epochs."""
MARKERS = ("•", "x", "+", "o", "*", "#", "@", "%")
COLORS = ("smooth_loss", "train", "val", "lr", "wrong", "correct", "step_loss")
"""Chart colours of the theme, taken by the runs in turn."""


def run_style(index: int, theme: str) -> tuple[str, str]:
    """(marker, hex colour) of the run at `index`."""
    colors = chart_colors(theme)
    return MARKERS[index % len(MARKERS)], colors[COLORS[index % len(COLORS)]]


def value_text(metric: str, value: float | None) -> str:
    """A metric's value in its quantity's format (`98.52%`, `0.01760`), `-` when missing."""
    return "-" if value is None else formats.metric(metric, value)


@dataclass
class RunsRead(Message):
    """Runs whose files changed, read again (by index in the view's list)."""

    runs: dict[int, RunResults]


class CompareChart(EventChart):
    """One metric of every run against the epoch, a marker and a colour per run."""

    def __init__(self, runs: list[RunResults], metric: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.runs, self.metric = runs, metric

    def show(self, runs: list[RunResults], metric: str) -> None:
        """Chart `metric` of `runs`."""
        self.runs, self.metric = runs, metric
        self.mark_dirty()

    def on_resize(self, event: events.Resize) -> None:
        """Drawn again at once for the new width: the compare view has no redraw tick."""
        self.mark_dirty()
        self.flush()

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """Each run's series, drawn with its marker, as the chart's view says."""
        lines = []
        for index, run in enumerate(self.runs):
            xs, ys = run.series(self.metric)
            lines.append(Line([float(x) for x in xs], ys, COLORS[index % len(COLORS)],
                              MARKERS[index % len(MARKERS)]))
        self.draw(plt, colors, lines, per_epoch=True, x_unit="epoch")

    def legend(self, colors: dict[str, str]) -> str:
        """The metric, which way is better, and what the view changes."""
        direction = {"min": " · lower is better", "max": " · higher is better"}
        return " ".join([self.title(self.metric) + direction.get(goal(self.metric) or "", ""),
                         *self.view_legend()])


class CompareLegend(Static):
    """One line per run: its marker, name, best (or last) value of the metric, state."""

    def show(self, runs: list[RunResults], metric: str) -> None:
        """Describe `runs` for `metric`."""
        width = max(len(run.name) for run in runs)
        lines = []
        for index, run in enumerate(runs):
            marker, color = run_style(index, self.app.theme)
            found = best(run, metric)
            figure = (f"best {value_text(metric, found.value)} (epoch {found.epoch})"
                      if found else f"last {value_text(metric, last_value(run, metric))}")
            state = f"  {run.state}" if is_live(run) else ""
            lines.append(Content.assemble((marker, f"bold {color}"),
                                          f" {run.name:<{width}}  {figure}{state}"))
        set_text(self, Content("\n").join(lines))


class CompareTable(DataTable[Text | str]):
    """Each run's config values that differ from the others', and its final figures."""

    shown: tuple[list[str], list[list[str]]] | None = None

    def show(self, runs: list[RunResults]) -> None:
        """Fill the table with `runs` (unless it shows them as they are already)."""
        shown = table_cells(records(runs))
        if shown == self.shown:
            return  # rebuilding it would also scroll it back
        self.shown = shown
        header, rows = shown
        self.clear(columns=True)
        self.add_columns("", *header)
        for index, cells in enumerate(rows):
            marker, color = run_style(index, self.app.theme)
            self.add_row(Text(marker, style=f"bold {color}"), *cells)


class CompareScreen(Screen[None]):
    """The compare view: chart, legend and table; `m` charts the next shared metric."""

    DEFAULT_CSS = """
    CompareScreen CompareChart { height: 1fr; min-height: 8; }
    CompareScreen CompareLegend { height: auto; padding: 0 1; }
    CompareScreen CompareTable { height: auto; max-height: 40%; margin-top: 1; }
    CompareScreen #empty { height: 1fr; padding: 1 2; }
    """
    BINDINGS = [
        Binding("m", "next_metric", "Metric"),
        Binding("y", "log_scale", "Log y"),
        Binding("q,escape", "close", "Quit"),
        Binding("q,escape", "back", "Back"),
    ]

    def __init__(self, runs: Sequence[RunResults], *, poll_seconds: float = POLL_SECONDS,
                 closes_app: bool = True) -> None:
        super().__init__()
        self.runs = list(runs)
        self.files = [RunFiles(run.run_dir) for run in self.runs]
        for files in self.files:
            files.changed()  # as read now: the first look only reads what changed since
        self.metrics = shared_metrics(self.runs)
        self.metric = self.metrics[0] if self.metrics else ""
        self.poll_seconds, self.closes_app = poll_seconds, closes_app

    def compose(self) -> ComposeResult:
        if self.metric:
            yield CompareChart(self.runs, self.metric)
        else:
            yield Static("These runs share no metric yet (none has ended an epoch).",
                         id="empty")
        yield CompareLegend()
        yield CompareTable(cursor_type="none", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        """Fill the panels, and start following the runs."""
        self._show()
        self.set_interval(self.poll_seconds, self.read_changed)

    def action_next_metric(self) -> None:
        """Chart the next metric the runs share."""
        if len(self.metrics) > 1:
            self.metric = self.metrics[(self.metrics.index(self.metric) + 1) % len(self.metrics)]
            self._show()

    def action_log_scale(self) -> None:
        """Switch the chart's y axis between linear and logarithmic."""
        for chart in self.query(CompareChart):
            chart.change_view("log")
            chart.flush()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`q` quits the app, or goes back to the list of runs when it came from there."""
        if action in ("close", "back"):
            return self.closes_app == (action == "close")
        return True

    def action_close(self) -> None:
        """Leave the app."""
        self.app.exit()

    def action_back(self) -> None:
        """Back to the list of runs."""
        self.dismiss()

    @work(thread=True, exclusive=True, group="compare-poll")
    def read_changed(self) -> None:
        """Read again the runs whose files changed."""
        changed = read_changed(self.files)
        if changed:
            self.post_message(RunsRead(changed))

    def on_runs_read(self, message: RunsRead) -> None:
        """Show the runs as read again."""
        for index, run in message.runs.items():
            self.runs[index] = run
        metrics = shared_metrics(self.runs)
        if metrics != self.metrics:
            self.metrics = metrics
            if self.metric not in metrics:
                self.metric = metrics[0] if metrics else ""
                if self.metric and not self.query(CompareChart):
                    self.query_one("#empty").remove()
                    self.mount(CompareChart(self.runs, self.metric), before=0)
        self._show()

    def _show(self) -> None:
        for chart in self.query(CompareChart):
            chart.show(self.runs, self.metric)
            chart.flush()
        self.query_one(CompareLegend).show(self.runs, self.metric)
        self.query_one(CompareTable).show(self.runs)


class CompareApp(App[None]):
    """`trainui compare` on a terminal: the compare view, alone."""

    TITLE = "trainui compare"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, runs: Sequence[RunResults], *, theme: str = "dark",
                 poll_seconds: float = POLL_SECONDS) -> None:
        super().__init__()
        self.compared, self.poll_seconds = list(runs), poll_seconds
        for bundled in textual_themes():
            self.register_theme(bundled)
        self.theme = theme

    def on_mount(self) -> None:
        """Open the compare view."""
        self.push_screen(CompareScreen(self.compared, poll_seconds=self.poll_seconds))

