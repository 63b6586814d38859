"""The end of a run: number formats, the confusion matrix and its reading, the finished
view's layout and keys, the event log, and the summary printed when the view closes."""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Static

from trainui.core import events as ev
from trainui.core import formats
from trainui.core.confusion import confused_text, most_confused, row_shares
from trainui.core.control import Control
from trainui.core.exit_summary import exit_summary
from trainui.core.run_summary import RunSummary
from trainui.tui.app import TrainApp
from trainui.tui.end_view import RunArea, end_view
from trainui.tui.final_report import FinalReport
from trainui.tui.help_screen import HelpScreen
from trainui.tui.log_panel import EventLog
from trainui.tui.report_tables import confusion_table
from trainui.tui.reports import format_metrics
from tui_fixtures import (
    CIFAR,
    CONFUSION,
    FakeJob,
    async_test,
    cifar_confusion,
    cifar_events,
    clock_after,
    digits_metrics,
    finished_events,
    settle,
    staged_app,
)

COLORS = {"base": "#000000", "muted": "#808080", "correct": "#0000ff", "wrong": "#ff0000"}


def plain(renderable: object, width: int = 200) -> str:
    """A Rich renderable as plain text."""
    console = Console(width=width, color_system=None, record=True)
    console.print(renderable)
    return console.export_text()


class TestFormats:
    def test_losses_keep_four_significant_digits(self) -> None:
        assert formats.loss(0.00892772) == "0.008928"
        assert formats.loss(0.07) == "0.07000"
        assert formats.loss(1.17932) == "1.179"
        assert formats.loss(369.24) == "369.2"
        assert formats.loss(1e-5) == "1.000e-05"
        assert formats.loss(12345.0) == "1.234e+04"
        assert formats.loss(float("nan")) == "nan" and formats.loss(None) == "n/a"

    def test_accuracy_is_a_percentage_and_scores_fractions(self) -> None:
        assert formats.percent(0.9926) == "99.26%"
        assert formats.score(0.99312) == "0.9931"
        assert formats.metric("val_acc", 0.9712) == "97.12%"
        assert formats.metric("accuracy", 1.0) == "100.00%"
        assert formats.metric("test_f1", 0.5) == "0.5000"
        assert formats.metric("precision", 0.25) == "0.2500"
        assert formats.metric("val_loss", 0.1234567) == "0.1235"
        assert formats.metric("grad_norm", 3.14159) == "3.142"
        assert formats.metric("lr", 3e-4) == "0.0003"

    def test_times_and_rates(self) -> None:
        assert formats.learning_rate(0.001) == "0.001" and formats.learning_rate(3e-5) == "3e-05"
        assert formats.duration(7.9) == "0:07" and formats.duration(3_723) == "1:02:03"
        assert formats.duration(None) == "--:--" and formats.duration(float("inf")) == "--:--"
        assert formats.seconds(7.46) == "7.5s"
        assert formats.rate(1812.5) == "1,812 samples/s"


class TestConfusion:
    def test_shares_by_true_class(self) -> None:
        assert row_shares([[3, 1], [0, 0]]) == [[0.75, 0.25], [0.0, 0.0]]

    def test_most_confused_pairs_largest_first(self) -> None:
        matrix = [[5, 1, 0], [4, 5, 1], [0, 2, 8]]
        pairs = most_confused(matrix, ["cat", "dog", "ship"], limit=2)
        assert [(p.true, p.predicted, p.samples) for p in pairs] == [("dog", "cat", 4),
                                                                    ("ship", "dog", 2)]
        assert confused_text(pairs) == "dog -> cat: 4 (40.00%), ship -> dog: 2 (20.00%)"
        assert confused_text(most_confused([[2, 0], [0, 3]], ["a", "b"])) == "none"

    def test_long_names_head_rows_after_an_index(self) -> None:
        """CIFAR's names do not fit a cell: the columns are indices, the rows name them."""
        matrix = cifar_confusion()
        lines = plain(confusion_table(matrix, CIFAR, COLORS)).splitlines()
        assert lines[1].split() == [str(i) for i in range(10)]
        assert lines[2].split()[:3] == ["0", "airplane", "35"]
        assert lines[11].split()[:2] == ["9", "truck"]
        assert max(len(line.rstrip()) for line in lines) < 70

    def test_short_names_head_the_columns(self) -> None:
        lines = plain(confusion_table(CONFUSION, [str(i) for i in range(10)], COLORS))
        assert lines.splitlines()[1].split() == [str(i) for i in range(10)]
        assert lines.splitlines()[2].split()[:2] == ["0", "35"]

    def test_normalized_cells_are_row_percentages(self) -> None:
        text = plain(confusion_table([[3, 1], [0, 200]], ["a", "b"], COLORS, normalized=True))
        assert "% of true class" in text
        assert text.splitlines()[2].split() == ["a", "75", "25"]
        assert text.splitlines()[3].split() == ["b", ".", "100"]

    def test_eval_report_normalized_with_pairs(self) -> None:
        """`trainui eval --normalize`: percentages of each true class, the pairs listed."""
        metrics = {**digits_metrics(cifar_confusion(), CIFAR), "class_names": CIFAR,
                   "samples": 350, "confusion_matrix": cifar_confusion()}
        text = format_metrics(metrics, normalize=True)
        assert re.fullmatch(r"accuracy \d+\.\d\d%  precision 0\.\d{4}  recall 0\.\d{4}  "
                            r"f1 0\.\d{4}", text.splitlines()[1])
        assert "percent of each true class" in text
        cat_row = next(line for line in text.splitlines() if line.startswith("3 cat"))
        assert cat_row.split()[2:] == [".", ".", ".", "70", ".", "24", ".", "3", "3", "."]
        assert text.splitlines()[-1] == ("most confused (true -> predicted): cat -> dog: 9 "
                                         "(24.32%), dog -> cat: 6 (16.22%), truck -> "
                                         "automobile: 4 (11.11%)")
        counts = format_metrics(metrics).splitlines()
        assert "(rows: true, columns: predicted; counts)" in counts[-14]
        assert counts[-13].split() == [str(i) for i in range(10)]
        assert counts[-9].split() == ["3", "cat", ".", ".", ".", "26", ".", "9", ".", "1", "1",
                                      "."]


class TestEndView:
    @pytest.mark.parametrize(("size", "charts", "view"), [
        ((120, 40), False, "both"), ((200, 60), True, "both"), ((119, 40), False, "report"),
        ((120, 39), True, "charts"), ((80, 24), False, "report"),
    ])
    def test_view_by_terminal_size(self, size: tuple[int, int], charts: bool,
                                   view: str) -> None:
        assert end_view(*size, over=True, has_report=True, charts=charts) == view

    def test_live_while_training_or_without_a_report(self) -> None:
        assert end_view(200, 60, over=False, has_report=True, charts=False) == "live"
        assert end_view(80, 24, over=True, has_report=False, charts=False) == "live"


@contextlib.asynccontextmanager
async def view(stage: str, size: tuple[int, int]) -> AsyncIterator[tuple[TrainApp, Pilot]]:
    """The app fed with the recorded run up to `stage`, settled, on a terminal of `size`."""
    app, job = staged_app(stage)
    assert isinstance(app, TrainApp)
    try:
        async with app.run_test(size=size) as pilot:
            await settle(pilot, job, done=stage == "finished")
            yield app, pilot
    finally:
        job.release.set()


@async_test
async def test_finished_on_a_large_terminal_shows_charts_and_report() -> None:
    async with view("finished", (120, 40)) as (app, pilot):
        area = app.query_one(RunArea)
        assert area.view == "both"
        assert app.query_one("#live").display and app.query_one(FinalReport).display
        assert app.check_action("switch_report", ()) is False
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert area.view == "report" and not app.query_one("#live").display


@async_test
async def test_r_switches_between_report_and_charts_on_a_small_terminal() -> None:
    async with view("finished", (80, 24)) as (app, pilot):
        area = app.query_one(RunArea)
        assert area.view == "report" and app.check_action("switch_report", ()) is True
        await pilot.press("r")
        await pilot.pause()
        assert area.view == "charts" and app.query_one("#live").display
        assert not app.query_one(FinalReport).display
        assert app.check_action("normalize_matrix", ()) is False
        await pilot.press("r")
        await pilot.pause()
        assert area.view == "report"


@async_test
async def test_r_and_n_do_nothing_while_training() -> None:
    async with view("running", (80, 24)) as (app, pilot):
        assert app.check_action("switch_report", ()) is False
        assert app.check_action("normalize_matrix", ()) is False
        await pilot.press("r", "n")
        await pilot.pause()
        assert app.query_one(RunArea).view == "live"
        assert app.query_one(FinalReport).normalized is False


@async_test
async def test_n_normalizes_the_matrix_and_lists_mixups() -> None:
    events = cifar_events()
    job = FakeJob(events)
    app = TrainApp(job, Control(), clock=clock_after(events))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, job, done=True)
        report = app.query_one(FinalReport)
        matrix = report.query_one("#matrix", Static)
        assert "counts" in plain(matrix.content)
        await pilot.press("n")
        await settle(pilot, job, done=True)
        shown = plain(matrix.content)
        assert report.normalized and "% of true class" in shown
        assert "3 cat" in shown and "9 truck" in shown
        confused = str(report.query_one("#confused", Static).content)
        assert "cat -> dog: 9 (24.32%)" in confused


@async_test
async def test_log_keys_scroll_and_return_to_the_newest_line() -> None:
    async with view("finished", (80, 24)) as (app, pilot):
        log = app.query_one(EventLog)
        assert log.max_scroll_y > 0 and log.scroll_y == log.max_scroll_y
        await pilot.press("pageup")
        await pilot.pause()
        assert log.scroll_y < log.max_scroll_y and not log.auto_scroll
        await pilot.press("end")
        await pilot.pause()
        assert log.scroll_y == log.max_scroll_y and log.auto_scroll


@async_test
async def test_help_lists_the_end_of_run_and_log_keys() -> None:
    async with view("running", (100, 40)) as (app, pilot):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one(Static).content)
        for words in ("the charts or the final report", "counts or % of each true class",
                      "PgUp/Dn", "event log: a page back / on; End: the newest line"):
            assert words in text


@async_test
async def test_log_folds_best_checkpoints_and_rewraps_on_resize() -> None:
    async with view("finished", (80, 24)) as (app, pilot):
        log = app.query_one(EventLog)
        entries = list(log._entries)
        assert not any(entry.line.startswith("checkpoint best") for entry in entries)
        folded = [entry for entry in entries if entry.notes]
        assert folded and all(entry.epoch is not None for entry in folded)
        assert folded[0].notes == ["best saved"]
        narrow = len(log.lines)
        await pilot.resize_terminal(160, 40)
        await pilot.pause()
        assert len(log.lines) < narrow  # fewer wrapped lines at the new width
        assert max(line.cell_length for line in log.lines) <= log.scrollable_content_region.width


@async_test
async def test_header_shows_the_run_directory() -> None:
    async with view("finished", (120, 40)) as (app, pilot):
        line = str(app.query_one("#state-line", Static).content)
        assert "dir runs/digits-mlp-demo" in line


def summary_of(events: list[ev.Event]) -> RunSummary:
    summary = RunSummary()
    for event in events:
        summary.add(event)
    return summary


class TestExitSummary:
    def test_finished_run(self, tmp_path: Path) -> None:
        """Outcome, epochs and time, best epoch, test scores, directory, watch and resume."""
        run_dir = tmp_path / "my run"
        text = exit_summary(run_dir, summary_of(finished_events()), trainer_alive=False)
        quoted = f"'{run_dir}'"
        assert text.splitlines() == [
            "trainui: digits-mlp-demo finished: completed 9 epochs",
            "  9 epochs in 0:10; best val_loss 0.07333 at epoch 9",
            "  test accuracy 98.52%  precision 0.9862  recall 0.9852  f1 0.9852",
            f"  run dir  {run_dir}",
            f"  watch    trainui watch {quoted}",
        ]  # a step schedule cannot be extended: no resume line

    def test_stopped_run_resumes_as_it_is(self, tmp_path: Path) -> None:
        events = finished_events()
        finished = events[-1]
        assert isinstance(finished, ev.Finished)
        events[-1] = dataclasses.replace(finished, cause="user", reason="stopped by the user")
        text = exit_summary(tmp_path, summary_of(events), trainer_alive=False)
        assert text.splitlines()[0] == "trainui: digits-mlp-demo stopped: stopped by the user"
        assert text.splitlines()[-1] == f"  resume   trainui train --resume {tmp_path}"

    def test_run_left_training(self, tmp_path: Path) -> None:
        events = [e for e in finished_events() if not isinstance(e, ev.Finished)]
        events = events[:next(i for i, e in enumerate(events) if isinstance(e, ev.Paused))]
        text = exit_summary(tmp_path, summary_of(events), trainer_alive=True, pid=4242)
        first = text.splitlines()[0]
        assert first.startswith("trainui: digits-mlp-demo is running (epoch 4)")
        assert first.endswith("it goes on in the background (pid 4242)")
        assert "resume" not in text and f"trainui watch {tmp_path}" in text

    def test_failed_run(self, tmp_path: Path) -> None:
        events = [*finished_events()[:5], ev.Failed(message="CUDA out of memory",
                                                     time=1_700_000_009.0)]
        text = exit_summary(tmp_path, summary_of(events), trainer_alive=False)
        assert text.splitlines()[0] == "trainui: digits-mlp-demo failed: CUDA out of memory"
        assert text.splitlines()[-1] == f"  resume   trainui train --resume {tmp_path}"


def test_the_view_prints_the_summary_of_its_run_when_it_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """What `trainui` and `trainui watch` print after the app: read from the run's files."""
    from trainui.core.event_file import EVENT_LOG, EventLogSink
    from trainui.tui import launch, terminal

    sink = EventLogSink(tmp_path / EVENT_LOG)
    for event in finished_events():
        sink(event)
    sink.close()
    monkeypatch.setattr(terminal, "terminal_alive", lambda fd: True)
    launch.print_exit_summary(tmp_path)
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "trainui: digits-mlp-demo finished: completed 9 epochs"
    assert printed[3:] == [f"  run dir  {tmp_path}", f"  watch    trainui watch {tmp_path}"]
    monkeypatch.setattr(terminal, "terminal_alive", lambda fd: False)
    launch.print_exit_summary(tmp_path)  # the terminal went away: nothing
    assert capsys.readouterr().out == ""
