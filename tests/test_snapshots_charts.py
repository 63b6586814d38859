"""SVG snapshots of the charts on a 150-epoch run: log scale, a window, smoothing, NO_COLOR.

Update with `pytest tests/test_snapshots_charts.py --snapshot-update`, then review the SVGs
(snapshot_report.html shows the differences) before committing them.
"""

from __future__ import annotations

import pytest
from test_tui_charts import long_run

from trainui.core import events as ev
from trainui.core.control import Control
from trainui.tui.app import TrainApp
from tui_fixtures import FakeJob, settle

SIZES = [(80, 24), (120, 40)]


def snapshot(snap_compare, jobs, size, press=(), events=None):  # type: ignore[no-untyped-def]
    replayed: list[ev.Event] = events or long_run()
    job = FakeJob(replayed, hold=True)
    jobs.append(job)
    app = TrainApp(job, Control(), clock=lambda: replayed[-1].time + 1)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot, job)

    return snap_compare(app, press=press, terminal_size=size, run_before=run_before)


def sized(test):  # type: ignore[no-untyped-def]
    return pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")(test)


class TestWholeRun:
    @sized
    def test_long_tail_fills_the_chart(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """150 epochs, whole run: the flat tail spans the loss chart's height, the first
        epochs sit on its top edge marked ▲, x is named (step, epoch)."""
        assert snapshot(snap_compare, jobs, size)

    def test_wild_first_val_loss(self, snap_compare, jobs) -> None:  # type: ignore[no-untyped-def]
        """A first val loss of 369: marked ▲ on the top edge; the step loss keeps its shape."""
        assert snapshot(snap_compare, jobs, (120, 40), events=long_run(20, first_val_loss=369.0))


class TestLogScale:
    @sized
    def test_log_scale(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """`y`: both charts on a log y axis, ticks labelled in the data's units (0.01, 0.1,
        1...), `log` in the titles."""
        assert snapshot(snap_compare, jobs, size, press=["y"])


class TestWindow:
    @sized
    def test_last_epochs(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """`w`: the last 20 epochs only (steps 1.3k-1.5k, epochs 131-150), the y range
        fitted to them, `last 20` in the titles."""
        assert snapshot(snap_compare, jobs, size, press=["w"])


class TestSmoothing:
    @sized
    def test_smoothing(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """`+` twice and `w` twice: smoothing 0.9 around the best epoch, the raw steps faint
        `·` under the smoothed curve, `smoothed 0.9` in the legend."""
        assert snapshot(snap_compare, jobs, size, press=["plus", "plus", "w", "w"])


class TestNoColor:
    @sized
    def test_no_color(self, snap_compare, jobs, size, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        """NO_COLOR: the series differ by marker (· raw, ⠉ smoothed, • train, x val, ▲
        clipped), as the legends show."""
        monkeypatch.setenv("NO_COLOR", "1")
        assert snapshot(snap_compare, jobs, size)
