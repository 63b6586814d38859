"""The TUI's pure parts: time estimates, log lines, tables, messages."""

from __future__ import annotations

import pytest
from rich.console import Console

from trainui.core import events as ev
from trainui.tui.chart import nice_ticks, tick_label
from trainui.tui.messages import TrainingEvent, TrainingProgress, event_message
from trainui.tui.report_tables import confusion_table, metrics_table
from trainui.tui.timing import format_clock, format_duration, seconds_per_step
from tui_fixtures import CONFUSION, digits_metrics, progress


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
    from trainui.tui.early_stopping_panel import wait_blocks

    assert wait_blocks(2, 5) == "■■□□□"
    assert wait_blocks(21, 100) == "■■□□□□□□□□"
    assert wait_blocks(7, 5) == "■■■■■"
