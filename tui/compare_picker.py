"""`trainui runs` on a terminal: the list of runs, where space marks runs and enter
compares the marked ones (the compare view; escape comes back to the list)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, SelectionList, Static
from textual.widgets.selection_list import Selection

from trainui.core.errors import TrainuiError
from trainui.core.run_compare import load_runs
from trainui.core.run_index import (
    LISTING_HEADER,
    RunListing,
    aligned,
    list_run,
    listing_cells,
)

from .compare import CompareScreen
from .panel import set_text
from .theming import textual_themes

HINT = "space marks a run, enter compares the marked runs (2 or more)"
SHOWN = LISTING_HEADER[:-1]
"""The listing's columns the picker shows (a failed run's cause is left to `watch`)."""


class RunList(SelectionList[str]):
    """The runs, one per line; space marks one, enter compares the marked ones."""

    BINDINGS = [Binding("space", "select", "Mark"),
                Binding("enter", "screen.compare", "Compare")]


def listing_lines(listings: Sequence[RunListing]) -> tuple[str, list[str]]:
    """(header, one line per run) aligned as columns."""
    lines = aligned([SHOWN, *(listing_cells(listing)[:len(SHOWN)] for listing in listings)])
    return lines[0], lines[1:]


class PickerScreen(Screen[None]):
    """The runs under a root, to mark and compare."""

    DEFAULT_CSS = """
    PickerScreen #heading { height: 1; padding: 0 1; margin-top: 1; color: $text-muted;
                            text-style: bold; }
    PickerScreen #hint { height: 1; padding: 0 1; color: $text-muted; }
    PickerScreen RunList { height: 1fr; border: none; }
    """
    BINDINGS = [Binding("q,escape", "app.quit", "Quit")]

    def __init__(self, listings: Sequence[RunListing]) -> None:
        super().__init__()
        self.listings = list(listings)

    def compose(self) -> ComposeResult:
        header, lines = listing_lines(self.listings)
        yield Static(HINT, id="hint")
        yield Static(Content("    " + header), id="heading")
        yield RunList(*(Selection(Content(line), str(listing.path))
                        for line, listing in zip(lines, self.listings, strict=True)))
        yield Footer()

    def marked(self) -> list[str]:
        """The marked runs' paths, in the list's order."""
        selected = set(self.query_one(RunList).selected)
        return [str(listing.path) for listing in self.listings if str(listing.path) in selected]

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged[str]) -> None:
        """Say which runs are marked (not by colour alone)."""
        marked = [Path(path).name for path in self.marked()]
        hint = f"marked: {', '.join(marked)} · enter compares them" if marked else HINT
        set_text(self.query_one("#hint", Static), Content(hint))

    def action_compare(self) -> None:
        """Open the compare view of the marked runs."""
        marked = self.marked()
        if len(marked) < 2:
            self.notify("mark 2 runs or more with space first", severity="warning")
            return
        try:
            runs = load_runs(marked)
        except TrainuiError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(CompareScreen(runs, closes_app=False))


class PickerApp(App[None]):
    """`trainui runs` on a terminal."""

    TITLE = "trainui runs"
    ENABLE_COMMAND_PALETTE = False

    def __init__(self, listings: Sequence[RunListing], *, theme: str = "dark") -> None:
        super().__init__()
        self.listings = list(listings)
        for bundled in textual_themes():
            self.register_theme(bundled)
        self.theme = theme

    def on_mount(self) -> None:
        """Show the list."""
        self.push_screen(PickerScreen(self.listings))


def pick_runs(run_dirs: Sequence[Path], *, theme: str) -> int:
    """The picker over `run_dirs`; 0 when left."""
    PickerApp([list_run(path) for path in run_dirs], theme=theme).run()
    return 0
