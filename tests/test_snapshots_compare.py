"""SVG snapshots of `trainui compare` and the picker of `trainui runs`, on three run
directories written directly (fixed values and times, so the same everywhere).

Update with `pytest tests/test_snapshots_compare.py --snapshot-update`, then review the
SVGs before committing them.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from compare_fixtures import three_runs
from trainui.core.run_compare import load_runs
from trainui.core.run_index import list_run

SIZES = [(80, 24), (120, 40)]


def compare_app(root: Path) -> object:
    from trainui.tui.compare import CompareApp

    return CompareApp(load_runs(three_runs(root)), poll_seconds=3600)


async def settle(pilot) -> None:  # type: ignore[no-untyped-def]
    """Twice: the first redraw can change sizes, and a resized chart redraws to its width."""
    for _ in range(2):
        await pilot.pause()
        for chart in pilot.app.screen.query("CompareChart"):
            chart.flush()
    await pilot.pause()


@pytest.fixture
def utc() -> Iterator[None]:
    """Local time is UTC (the picker shows when each run started)."""
    import os

    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


class TestCompare:
    @pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
    def test_three_runs(self, snap_compare, tmp_path, size) -> None:  # type: ignore[no-untyped-def]
        """Validation loss of three runs per epoch, each drawn with its own marker (•, x,
        +) and colour; the legend gives each run's best value and epoch; the table gives
        the differing config values (batch_size, lr) and final figures, `-` for the run
        that stopped after 4 of 6 epochs."""
        assert snap_compare(compare_app(tmp_path), terminal_size=size, run_before=settle)

    def test_next_metric_in_log_scale(self, snap_compare, tmp_path) -> None:  # type: ignore[no-untyped-def]
        """`m` then `y`: validation accuracy on a logarithmic y axis, the title says both;
        the legend's best values are percentages."""
        assert snap_compare(compare_app(tmp_path), terminal_size=(80, 24), press=["m", "y"],
                            run_before=settle)

    def test_no_color(self, snap_compare, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        """With NO_COLOR the runs are still told apart: by their markers in the chart,
        the legend and the table."""
        monkeypatch.setenv("NO_COLOR", "1")
        assert snap_compare(compare_app(tmp_path), terminal_size=(80, 24), run_before=settle)


class TestPicker:
    def test_two_runs_marked(self, snap_compare, tmp_path, monkeypatch, utc) -> None:  # type: ignore[no-untyped-def]
        """`trainui runs` on a terminal: every run with its state, epochs, best, test
        accuracy and duration; space has marked the first and third runs."""
        from trainui.tui.compare_picker import PickerApp

        monkeypatch.chdir(tmp_path)
        paths = [path.relative_to(tmp_path) for path in three_runs(Path("runs").resolve())]
        app = PickerApp([list_run(path) for path in paths])
        assert snap_compare(app, terminal_size=(100, 24), press=["space", "down", "down", "space"])
