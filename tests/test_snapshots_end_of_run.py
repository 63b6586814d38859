"""SVG snapshots of the end of a run: the charts kept beside the final report, and a
confusion matrix with CIFAR-10's long class names (pytest-textual-snapshot).

Update with `pytest tests/test_snapshots_end_of_run.py --snapshot-update`, then review the
SVGs before committing them.
"""

from __future__ import annotations

import pytest

from trainui.core.control import Control
from trainui.tui.app import TrainApp
from tui_fixtures import FakeJob, cifar_events, clock_after, settle, staged_app

SIZES = [(80, 24), (120, 40)]


def size_id(size: tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"


def finished(snap_compare, jobs, size, press=()):  # type: ignore[no-untyped-def]
    app, job = staged_app("finished")
    jobs.append(job)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot, job, done=True)

    return snap_compare(app, press=press, terminal_size=size, run_before=run_before)


def cifar(snap_compare, size, press=()):  # type: ignore[no-untyped-def]
    events = cifar_events()
    job = FakeJob(events)
    app = TrainApp(job, Control(), clock=clock_after(events))

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot, job, done=True)

    return snap_compare(app, press=press, terminal_size=size, run_before=run_before)


class TestFinishedWithCurves:
    @pytest.mark.parametrize("size", SIZES, ids=size_id)
    def test_finished(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """120x40: the loss and accuracy charts above the outcome, confusion matrix,
        per-class table and most-confused pairs; 80x24: the report alone, `r Charts/Report`
        in the footer; the header names the run directory."""
        assert finished(snap_compare, jobs, size)

    def test_charts_on_a_small_terminal(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """80x24 after `r`: the finished run's charts instead of the report."""
        assert finished(snap_compare, jobs, (80, 24), press=["r"])


class TestLongClassNames:
    @pytest.mark.parametrize("size", SIZES, ids=size_id)
    def test_cifar_names(self, snap_compare, size) -> None:  # type: ignore[no-untyped-def]
        """CIFAR-10's names: columns headed by indices, rows by `index name`, none cut; the
        per-class table beside the matrix at 120x40, under it at 80x24 (scrolled off)."""
        assert cifar(snap_compare, size)

    def test_normalized(self, snap_compare) -> None:  # type: ignore[no-untyped-def]
        """120x40 after `n`: cells in percent of each true class (`cat` row: 70, 24 for
        dog), the title says so; most confused: cat -> dog, dog -> cat, truck ->
        automobile."""
        assert cifar(snap_compare, (120, 40), press=["n"])
