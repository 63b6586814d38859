"""The view's main area: the charts while a run trains; at its end the final report beside
them when the terminal has the room, otherwise one or the other (a key switches)."""

from __future__ import annotations

from textual import events
from textual.containers import Vertical

BOTH_FROM = (120, 40)
"""Terminal width and height from which charts and final report show together."""
VIEWS = ("live", "charts", "report", "both")


def end_view(width: int, height: int, *, over: bool, has_report: bool, charts: bool) -> str:
    """Which of VIEWS to show: `live` while training (or for a run with no report),
    `both` on a large terminal, else the report, or the charts when asked for."""
    if not over or not has_report:
        return "live"
    if width >= BOTH_FROM[0] and height >= BOTH_FROM[1]:
        return "both"
    return "charts" if charts else "report"


def end_action_shown(action: str, area: RunArea) -> bool:
    """Whether an end-of-run key is in use now: the switch while only one of charts and
    report fits, the matrix's normalisation while the report is in view."""
    if action == "switch_report":
        return area.can_switch()
    return area.view in ("report", "both")


class RunArea(Vertical):
    """Holds the charts (#live) and the final report (#report); shows what fits."""

    DEFAULT_CSS = """
    RunArea { height: 1fr; }
    RunArea.-live > #report, RunArea.-charts > #report { display: none; }
    RunArea.-report > #live { display: none; }
    RunArea.-both > #live { height: 1fr; min-height: 8; }
    RunArea.-both > #report { height: auto; max-height: 70%; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.over = False
        self.has_report = False
        self.charts = False
        """At the end of a run on a small terminal: the charts were asked for."""
        self.view = "live"
        self.add_class("-live")

    def show_end(self, has_report: bool) -> None:
        """The run is over: show its report (if it has one) as the terminal allows."""
        self.over, self.has_report, self.charts = True, has_report, False
        self.place()

    def show_live(self) -> None:
        """A new session started: back to the charts alone."""
        self.over = False
        self.place()

    def can_switch(self) -> bool:
        """Whether the switch key does something: a report shown instead of the charts."""
        return self.view in ("charts", "report")

    def switch(self) -> None:
        """Between the charts and the report, on a terminal too small for both."""
        if self.can_switch():
            self.charts = not self.charts
            self.place()

    def place(self) -> None:
        """Show the view that fits the terminal's size now."""
        width, height = self.app.size
        view = end_view(width, height, over=self.over, has_report=self.has_report,
                        charts=self.charts)
        if view != self.view:
            self.remove_class(f"-{self.view}")
            self.add_class(f"-{view}")
            self.view = view
            self.app.refresh_bindings()

    def on_resize(self, event: events.Resize) -> None:
        """The terminal changed size: charts and report may now fit together, or not."""
        self.place()
