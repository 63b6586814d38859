"""The TUI's pure parts: bounded series, time estimates, log lines, tables, messages."""

from __future__ import annotations

import math

import pytest
from rich.console import Console

from trainui.core import events as ev
from trainui.tui.chart import nice_ticks, tick_label
from trainui.tui.log_lines import describe, format_metric
from trainui.tui.messages import TrainingEvent, TrainingProgress, event_message
from trainui.tui.report_tables import confusion_table, metrics_table
from trainui.tui.series import BoundedSeries, Smoother, downsample
from trainui.tui.timing import format_clock, format_duration, seconds_per_step
from tui_fixtures import CONFUSION, digits_metrics, finished_events, progress


class TestBoundedSeries:
    def test_memory_stays_flat_over_a_million_steps(self) -> None:
        """A million appended points never hold more than `capacity` stored points."""
        series = BoundedSeries(capacity=1024)
        for step in range(1_000_000):
            series.append(step, 1.0)
            assert len(series._xs) < 1024
        xs, ys = series.points()
        assert len(xs) <= 1025
        assert xs[-1] == 999_999 and ys[-1] == 1.0

    def test_merging_averages_and_keeps_the_latest_raw_point(self) -> None:
        """Halving averages neighbours; points() ends with the newest raw value."""
        series = BoundedSeries(capacity=4)
        for step, value in enumerate([1.0, 3.0, 5.0, 7.0, 9.0]):
            series.append(step, value)
        xs, ys = series.points()
        assert series.stride == 2
        assert ys[:2] == [2.0, 6.0]
        assert (xs[-1], ys[-1]) == (4, 9.0)

    def test_odd_capacity_is_rejected(self) -> None:
        """Pairwise halving needs an even capacity."""
        with pytest.raises(ValueError):
            BoundedSeries(capacity=5)


class TestDownsample:
    def test_short_series_are_unchanged(self) -> None:
        """Fewer points than the width: nothing to do."""
        assert downsample([1, 2], [3, 4], 10) == ([1, 2], [3, 4])

    def test_long_series_fit_the_width_and_keep_the_last_point(self) -> None:
        """At most `width` points; the final one is the exact last point."""
        xs = list(range(10_001))
        ys = [float(x) for x in xs]
        out_x, out_y = downsample(xs, ys, 80)
        assert len(out_x) <= 80
        assert (out_x[-1], out_y[-1]) == (10_000, 10_000.0)
        assert out_y == sorted(out_y)


def test_smoother_is_debiased_and_skips_non_finite() -> None:
    """The first smoothed value equals the first input; NaN passes through untouched."""
    smoother = Smoother(0.9)
    assert smoother.update(2.0) == pytest.approx(2.0)
    assert math.isnan(smoother.update(float("nan")))
    assert 1.0 < smoother.update(1.0) < 2.0


class TestTiming:
    def test_durations(self) -> None:
        """Minutes:seconds, hours when needed, dashes when unknown."""
        assert format_duration(65) == "1:05"
        assert format_duration(3_723) == "1:02:03"
        assert format_duration(None) == "--:--"
        assert format_clock(3_723.9) == "01:02:03"

    def test_seconds_per_step_prefers_epoch_times(self) -> None:
        """Epoch time (with validation) beats the bare step rate once known."""
        assert seconds_per_step(10.0, 100, None, 20) == pytest.approx(0.1)
        assert seconds_per_step(10.0, 100, 4.0, 20) == pytest.approx(0.2)
        assert seconds_per_step(0.0, 0, None, 20) is None


class TestLogLines:
    def test_every_noteworthy_recorded_event_has_a_line(self) -> None:
        """Saves, LR changes, pauses, early stops and the end all get a line; progress none."""
        lines = {event.kind: describe(event) for event in finished_events()}
        assert lines["progress"] is None
        assert "checkpoint (epoch 3)" in lines["checkpoint_saved"]
        assert "0.001 -> 0.0005" in lines["lr_changed"]
        assert lines["paused"].startswith("paused")
        assert "no improvement" in lines["finished"]

    def test_failure_and_non_finite_loss(self) -> None:
        """The failure reason and the bad loss value are in the line."""
        assert describe(ev.Failed(message="CUDA out of memory")) == "failed: CUDA out of memory"
        bad = ev.NonFiniteLoss(epoch=2, global_step=31, value="nan")
        assert describe(bad) == "loss is nan at step 31; stopping"

    def test_metric_format(self) -> None:
        """Accuracies as percentages, losses with four decimals."""
        assert format_metric("val_accuracy", 0.9712) == "97.12%"
        assert format_metric("val_loss", 0.1234567) == "0.1235"
        assert format_metric("val_loss", None) == "n/a"


class TestMessages:
    def test_progress_replacement_keeps_every_step_loss(self) -> None:
        """A newer progress may replace a queued one, but takes over its step losses."""
        older, newer = event_message(progress(1, 5, 1e-3)), event_message(progress(1, 10, 1e-3))
        assert isinstance(older, TrainingProgress) and isinstance(newer, TrainingProgress)
        assert older.can_replace(newer)
        assert [step for step, _ in newer.step_losses] == list(range(1, 11))

    def test_other_events_are_never_replaced(self) -> None:
        """Checkpoints, pauses and the like are all delivered."""
        message = event_message(ev.Failed(message="x"))
        assert isinstance(message, TrainingEvent)
        assert not message.can_replace(event_message(ev.Failed(message="y")))


def _render(renderable: object, width: int = 100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


class TestReportTables:
    COLORS = {"base": "#000000", "muted": "#777777", "correct": "#0072B2", "wrong": "#D55E00"}

    def test_confusion_matrix_has_class_names_and_counts(self) -> None:
        """Every class labels a row and a column; counts appear, zeros as dots."""
        text = _render(confusion_table(CONFUSION, [str(d) for d in range(10)], self.COLORS))
        assert "Confusion" in text
        assert " 35" in text and " 30" in text and "." in text

    def test_metrics_table_has_per_class_and_overall_rows(self) -> None:
        """Precision, recall, F1 and support per class, then the overall figures."""
        text = _render(metrics_table(digits_metrics()))
        assert "overall" in text and "1.000" in text and "recall" in text

    def test_confusion_table_fits_80_columns_beside_the_metrics(self) -> None:
        """Both tables side by side stay within an 80x24 terminal."""
        matrix = _render(confusion_table(CONFUSION, [str(d) for d in range(10)], self.COLORS))
        metrics = _render(metrics_table(digits_metrics()))
        width = max(map(len, matrix.splitlines())) + 4 + max(map(len, metrics.splitlines()))
        assert width <= 78


def test_ticks_are_whole_and_short() -> None:
    """Axis ticks at a 1-2-5 stride; big numbers abbreviated."""
    assert nice_ticks(1, 3) == [1, 2, 3]
    assert nice_ticks(0, 1_000_000)[-1] == 1_000_000
    assert len(nice_ticks(0, 12_345)) <= 6
    assert tick_label(12_000) == "12k" and tick_label(3_500_000) == "3.5M"


def test_wait_blocks_scale_to_at_most_ten() -> None:
    """The early-stopping counter stays short however long the patience."""
    from trainui.tui.early_stopping import wait_blocks

    assert wait_blocks(2, 5) == "■■□□□"
    assert wait_blocks(21, 100) == "■■□□□□□□□□"
    assert wait_blocks(7, 5) == "■■■■■"
