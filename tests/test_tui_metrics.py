"""Runs of your own code log any metrics: the view charts them and `m` cycles through."""

from __future__ import annotations

import re

from trainui.core import events as ev
from trainui.core.control import Control
from trainui.core.run_summary import RunSummary
from trainui.tui.accuracy_chart import AccuracyChart
from trainui.tui.app import TrainApp
from trainui.tui.log_panel import EventLog
from tui_fixtures import START, FakeJob, async_test, settle

SIZE = (120, 40)


def language_model_run(epochs: int = 2, steps: int = 10) -> list[ev.Event]:
    """A run with no accuracy: loss, perplexity and grad norm per step, BLEU per epoch."""
    events: list[ev.Event] = [ev.RunStarted(
        time=START, run_name="lm", run_dir=None, config={}, device="-", model_name="your model",
        parameter_count=0, dataset_name="", train_size=0, val_size=0, test_size=0,
        class_names=[], epochs=epochs, steps_per_epoch=steps)]
    for epoch in range(1, epochs + 1):
        for step in range(1, steps + 1):
            global_step = (epoch - 1) * steps + step
            loss = 5.0 / global_step
            events.append(ev.Progress(
                time=START + global_step, epoch=epoch, epochs=epochs, step=step,
                steps_per_epoch=steps, global_step=global_step, train_loss=loss,
                train_acc=None, samples_per_second=0.0, lr=None,
                step_losses=[[float(global_step), loss]],
                metrics={"perplexity": 2.718 ** loss, "grad_norm": 1.0 + step}))
        events.append(ev.EpochEnded(
            time=START + epoch * steps + 0.5, epoch=epoch, epochs=epochs, train_loss=1.0,
            train_acc=None, val_loss=1.2, val_acc=None, lr=None, epoch_time=1.0,
            samples_per_second=0.0, global_step=epoch * steps, metrics={"bleu": 20.0 + epoch}))
    return events


@async_test
async def test_m_cycles_through_every_metric_the_run_logs() -> None:
    events = language_model_run()
    job = FakeJob(events, hold=True)
    app = TrainApp(job, Control(), clock=lambda: START + 30)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        chart = app.query_one(AccuracyChart)
        assert chart.choices() == ["perplexity", "grad_norm", "bleu"]  # no accuracy logged
        assert chart.shown == "perplexity" and "m: next (1/3)" in str(chart.border_title)
        assert app.check_action("next_metric", ()) is True
        xs, ys = chart.steps["grad_norm"].points()
        assert xs[-1] == 20 and ys[-1] == 11.0
        shown = []
        for _ in range(3):
            await pilot.press("m")
            await pilot.pause()
            title = re.match(r"\[b\](.*?)\[/", str(chart.border_title))
            shown.append((chart.shown, title and title.group(1)))
        assert shown == [("grad_norm", "grad_norm"), ("bleu", "bleu"),
                         ("perplexity", "perplexity")]
        lines = [str(line) for line in app.query_one(EventLog).lines]
        assert any("bleu 21.00" in line for line in lines)  # the epoch line names them
        job.release.set()


@async_test
async def test_m_is_not_offered_for_accuracy_alone() -> None:
    """A built-in run has only accuracy: no `m` in the footer, and pressing it is harmless."""
    events = language_model_run()
    for index, event in enumerate(events):
        if isinstance(event, ev.Progress):
            events[index] = ev.Progress(**{**vars(event), "metrics": {}, "train_acc": 0.5})
        elif isinstance(event, ev.EpochEnded):
            events[index] = ev.EpochEnded(**{**vars(event), "metrics": {}, "val_acc": 0.6})
    job = FakeJob(events, hold=True)
    app = TrainApp(job, Control(), clock=lambda: START + 30)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        chart = app.query_one(AccuracyChart)
        assert chart.choices() == ["accuracy"]
        assert app.check_action("next_metric", ()) is False
        await pilot.press("m")
        assert chart.shown == "accuracy"
        job.release.set()


@async_test
async def test_a_watcher_gets_the_whole_step_metric_history() -> None:
    """Restored from a summary, a step metric keeps every step, not just the latest."""
    summary = RunSummary()
    for event in language_model_run():
        summary.add(event)
    summary = RunSummary.from_dict(summary.to_dict())  # as summary.json holds it
    app = TrainApp(lambda feed: feed.restore(summary), Control(),  # type: ignore[attr-defined]
                   clock=lambda: START + 30, watching=True)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await pilot.pause()
        xs, _ = app.query_one(AccuracyChart).steps["perplexity"].points()
        assert xs == [float(step) for step in range(1, 21)]


@async_test
async def test_o_shows_the_trainers_output_and_follows_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The script's own prints (output.log) from the view; lines appended later appear."""
    import asyncio

    from textual.widgets import Log

    from trainui.tui.output_screen import OutputScreen

    output = tmp_path / "output.log"
    output.write_text("my script starts\nprogress 10%\rprogress 100%\n")
    job = FakeJob(language_model_run(), hold=True)
    app = TrainApp(job, Control(), clock=lambda: START + 30, output_log=output)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        assert app.check_action("show_output", ()) is True
        await pilot.press("o")
        await pilot.pause()
        assert isinstance(app.screen, OutputScreen)
        log = app.screen.query_one(Log)
        assert list(log.lines) == ["my script starts", "progress 100%"]
        with output.open("a") as file:
            file.write("epoch 2 done\nhalf a li")
        await asyncio.sleep(0.8)
        await pilot.pause()
        assert list(log.lines)[-1] == "epoch 2 done"
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, OutputScreen)
        job.release.set()


@async_test
async def test_o_is_not_offered_without_an_output_file() -> None:
    job = FakeJob(language_model_run(), hold=True)
    app = TrainApp(job, Control(), clock=lambda: START + 30)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        assert app.check_action("show_output", ()) is False
        job.release.set()


@async_test
async def test_m_joins_the_footer_when_accuracy_comes_after_a_metric() -> None:
    """A grad norm logged before the first epoch's accuracy: `m` appears once there are
    two metrics to show, not only when the second name is new."""
    events = language_model_run()
    for index, event in enumerate(events):
        if isinstance(event, ev.Progress):
            events[index] = ev.Progress(**{**vars(event), "metrics": {"grad_norm": 1.0}})
        elif isinstance(event, ev.EpochEnded):
            events[index] = ev.EpochEnded(**{**vars(event), "metrics": {}, "val_acc": 0.6})
    first_epoch = next(i for i, e in enumerate(events) if isinstance(e, ev.EpochEnded))
    job = FakeJob(events[:first_epoch], events[first_epoch:], hold=True)
    app = TrainApp(job, Control(), clock=lambda: START + 30)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        def footer_keys() -> set[str]:
            from textual.widgets._footer import FooterKey

            return {key.action for key in app.query(FooterKey)}

        assert "next_metric" not in footer_keys() and "show_output" not in footer_keys()
        job.release.set()
        await settle(pilot, job, done=True)
        assert app.query_one(AccuracyChart).choices() == ["accuracy", "grad_norm"]
        await pilot.pause()
        assert "next_metric" in footer_keys()
