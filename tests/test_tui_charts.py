"""Charts that stay readable for any run length: the view's pure functions, then the keys
that change it in the app (log scale, window, smoothing) on long and wild runs."""

from __future__ import annotations

import math

import pytest
from rich.text import Text
from textual.pilot import Pilot

from trainui.core import events as ev
from trainui.core.control import Control
from trainui.tui.accuracy_chart import AccuracyChart
from trainui.tui.app import TrainApp
from trainui.tui.chart import EventChart, label_x_axis
from trainui.tui.chart_view import (
    AROUND_BEST,
    LAST_EPOCHS,
    ChartView,
    Window,
    clip,
    ema,
    joint_limits,
    label_width,
    linear_ticks,
    log_points,
    log_ticks,
    next_weight,
    visible,
    window_bounds,
    x_ticks_clear_of,
    y_limits,
)
from trainui.tui.keys import help_rows
from trainui.tui.loss_chart import LossChart
from tui_fixtures import START, FakeJob, async_test, settle

SIZE = (120, 40)
STEPS = 10


# ---- the pure functions ---------------------------------------------------------------
def test_ema_is_tensorboards_debiased_average() -> None:
    """last = last*w + (1-w)*x, divided by 1 - w**n: the first value is kept as it is."""
    weight = 0.6
    expected, last = [], 0.0
    for count, value in enumerate([1.0, 2.0, 3.0], start=1):
        last = last * weight + (1 - weight) * value
        expected.append(last / (1 - weight**count))
    assert ema([1.0, 2.0, 3.0], weight) == pytest.approx(expected)
    assert expected[0] == pytest.approx(1.0) and expected[2] == pytest.approx(1.824 / 0.784)
    assert ema([5.0] * 4, 0.99) == pytest.approx([5.0] * 4)  # no pull towards zero
    assert ema([1.0, 9.0], 0.0) == [1.0, 9.0]  # weight 0: raw


def test_ema_passes_non_finite_values_and_does_not_count_them() -> None:
    smoothed = ema([2.0, math.nan, 4.0], 0.5)
    assert smoothed[0] == 2.0 and math.isnan(smoothed[1])
    assert smoothed[2] == pytest.approx((0.5 * 1.0 + 0.5 * 4.0) / (1 - 0.25))


def test_smoothing_steps_up_and_down_and_stops_at_the_ends() -> None:
    assert next_weight(0.6, up=True) == 0.8
    assert next_weight(0.6, up=False) == 0.0
    assert next_weight(0.0, up=False) == 0.0
    assert next_weight(0.99, up=True) == 0.99
    view = ChartView()
    for _ in range(5):
        view = view.changed("smoother")
    assert view.smoothing == 0.99


def test_view_changes() -> None:
    view = ChartView()
    assert view.describe() == ""
    assert view.changed("log").log_y and not view.changed("log").changed("log").log_y
    windows = [view.window]
    for _ in range(3):
        view = view.changed("window")
        windows.append(view.window)
    assert windows == [Window.WHOLE, Window.LAST, Window.BEST, Window.WHOLE]
    assert ChartView(log_y=True, window=Window.LAST).describe() == f"log · last {LAST_EPOCHS}"
    with pytest.raises(ValueError, match="unknown chart change"):
        view.changed("zoom")


def test_last_epochs_window_starts_where_its_first_epoch_starts() -> None:
    ends = {epoch: 10.0 * epoch for epoch in range(1, 31)}  # 10 steps an epoch
    low, high = window_bounds(Window.LAST, ends, None) or (0, 0)
    assert (low, high) == (100.0, math.inf)  # epochs 11..30 (steps 101..), and beyond
    xs, _ = visible([99.0, 100.0, 101.0, 305.0], [0.0] * 4, (low, high))
    assert xs == [101.0, 305.0]
    assert window_bounds(Window.LAST, {e: 10.0 * e for e in range(1, 15)}, None) is None
    assert window_bounds(Window.WHOLE, ends, 3) is None
    assert window_bounds(Window.LAST, {}, None) is None


def test_best_epoch_window_is_centred_on_it() -> None:
    ends = {epoch: 10.0 * epoch for epoch in range(1, 31)}
    best = 12
    low, high = window_bounds(Window.BEST, ends, best) or (0, 0)
    assert low == 10.0 * (best - AROUND_BEST - 1) and high == 10.0 * (best + AROUND_BEST)
    assert window_bounds(Window.BEST, ends, 2) == (-math.inf, 10.0 * (2 + AROUND_BEST))
    assert window_bounds(Window.BEST, ends, 29) == (10.0 * (29 - AROUND_BEST - 1), math.inf)
    assert window_bounds(Window.BEST, ends, None) is None  # no best yet: the whole run


def test_y_limits_leave_an_outlier_first_epoch_off_the_scale() -> None:
    val_loss = [369.0, 2.1, 1.8, 1.5, 1.2, 1.0, 0.9, 0.8, 0.75, 0.7]
    low, high = y_limits(val_loss) or (0, 0)
    assert (low, high) == (0.7, 2.1)
    assert y_limits([0.5] * 3) == (0.5, 0.5)
    assert y_limits([math.nan, math.inf]) is None and y_limits([]) is None
    decaying = [2.3 * math.exp(-epoch / 3) + 0.02 for epoch in range(150)]
    low, high = y_limits(decaying) or (0, 0)
    tail = decaying[5:]
    assert (max(tail) - min(tail)) / (high - low) > 0.5  # the long tail fills the chart


def test_joint_limits_keep_every_series_on_the_scale() -> None:
    """A level series (val loss 0.041) next to many noisy step losses is not pushed off."""
    steps = [0.012 + 0.001 * (i % 5) for i in range(400)]
    val = [0.041] * 20
    low, high = joint_limits([steps, val]) or (0, 0)
    assert low <= 0.012 and high >= 0.041
    assert joint_limits([[], [math.nan]]) is None


def test_clip_holds_values_to_the_range_and_says_which() -> None:
    ys, above, below = clip([5.0, 1.0, -3.0, 2.0], (0.0, 2.0))
    assert ys == [2.0, 1.0, 0.0, 2.0] and above == [0] and below == [2]


def test_log_leaves_out_values_without_a_logarithm() -> None:
    xs, ys, dropped = log_points([1, 2, 3, 4], [100.0, 0.0, -1.0, 0.01])
    assert xs == [1, 4] and ys == pytest.approx([2.0, -2.0]) and dropped == 2


def test_log_ticks_label_powers_of_ten_in_data_units() -> None:
    positions, labels = log_ticks(-2.1, 1.2)
    assert labels == ["0.01", "0.1", "1", "10"] and positions == [-2, -1, 0, 1]
    _, labels = log_ticks(-1.05, 0.05)
    assert labels == ["0.1", "0.2", "0.5", "1"]
    positions, labels = log_ticks(math.log10(0.012), math.log10(0.018))  # between the marks
    assert len(positions) == 4 and labels[0] == "0.012" and labels[-1] == "0.018"


def test_linear_ticks_are_round_numbers_within_the_range() -> None:
    assert linear_ticks(0.0027, 0.135, 7) == (
        [0.02, 0.04, 0.06, 0.08, 0.1, 0.12],
        ["0.02", "0.04", "0.06", "0.08", "0.10", "0.12"],
    )
    assert linear_ticks(98.9, 100.1, 3) == ([99.0, 99.5, 100.0], ["99.0", "99.5", "100.0"])
    assert linear_ticks(0, 1500, 5)[1] == ["0", "500", "1k", "1.5k"]
    assert linear_ticks(-0.5, 0.5, 4)[1] == ["-0.5", "0.0", "0.5"]
    ticks, _ = linear_ticks(0.0101, 0.0109, 2)  # two at least, even past `most`
    assert len(ticks) >= 2 and all(0.0101 <= tick <= 0.0109 for tick in ticks)
    assert linear_ticks(3.0, 3.0, 5) == ([3.0], ["3"])


def test_the_x_unit_has_room_under_the_y_labels() -> None:
    assert label_width(["0.5", "10"], "epoch") == ["   0.5", "    10"]
    assert label_width(["100.05"], "step") == ["100.05"]
    # plot columns 6..46 for x 0..100: `1.2k` centred on column 6 would touch `step`
    ticks, labels = x_ticks_clear_of([0, 50, 100], ["1.2k", "50", "100"], (0, 100), (6, 46), 4)
    assert ticks == [50, 100] and labels == ["50", "100"]
    ticks, _ = x_ticks_clear_of([0, 50], ["1", "50"], (0, 100), (6, 46), 4)
    assert ticks == [0, 50]


def test_the_x_unit_is_written_into_the_tick_row() -> None:
    frame = Text("0.1┤ ⠉\n   └─┬\n     5")
    label_x_axis(frame, "ep")
    assert frame.plain.splitlines()[-1] == "ep   5"
    crowded = Text("x\n 5")
    label_x_axis(crowded, "step")  # no room: left as it is
    assert crowded.plain == "x\n 5"


# ---- in the app -------------------------------------------------------------------------
def long_run(epochs: int = 150, first_val_loss: float | None = None) -> list[ev.Event]:
    """A digits-like run: loss falling fast in the first epochs, then a long flat tail,
    accuracy rising; early stopping's best at epoch 40; optionally a wild first val loss."""
    events: list[ev.Event] = [
        ev.RunStarted(
            time=START,
            run_name="long",
            run_dir=None,
            config={},
            device="cpu",
            model_name="mlp",
            parameter_count=0,
            dataset_name="digits",
            train_size=0,
            val_size=0,
            test_size=0,
            class_names=[],
            epochs=epochs,
            steps_per_epoch=STEPS,
        )
    ]
    for epoch in range(1, epochs + 1):
        global_step = epoch * STEPS
        losses = [
            [float(step), 2.3 * math.exp(-step / 30) + 0.01 + 0.004 * (step % 3)]
            for step in range(global_step - STEPS + 1, global_step + 1)
        ]
        events.append(
            ev.Progress(
                time=START + global_step,
                epoch=epoch,
                epochs=epochs,
                step=STEPS,
                steps_per_epoch=STEPS,
                global_step=global_step,
                train_loss=losses[-1][1],
                train_acc=None,
                samples_per_second=0.0,
                lr=0.001 * 0.1 ** (epoch // 60),
                step_losses=losses,
                metrics={"grad_norm": 0.0 if epoch % 7 == 0 else 1.0 / epoch},
            )
        )
        # falls to its best at epoch 40, then creeps up (overfitting), with some noise
        val_loss = (
            2.3 * math.exp(-epoch / 3)
            + 0.04
            + 0.0004 * abs(epoch - 40)
            + 0.004 * math.sin(epoch * 1.3)
        )
        if epoch == 1 and first_val_loss is not None:
            val_loss = first_val_loss
        events.append(
            ev.EpochEnded(
                time=START + global_step + 0.5,
                epoch=epoch,
                epochs=epochs,
                train_loss=losses[-1][1],
                train_acc=1 - 0.5 * math.exp(-epoch / 3),
                val_loss=val_loss,
                val_acc=0.985 - 0.4 * math.exp(-epoch / 3) + 0.004 * math.sin(epoch * 0.7),
                lr=0.001,
                epoch_time=1.0,
                samples_per_second=0.0,
                global_step=global_step,
                metrics={"val/perplexity": math.exp(val_loss) if val_loss < 50 else 1e20},
            )
        )
        events.append(
            ev.EarlyStoppingUpdated(
                time=START + global_step + 0.6,
                epoch=epoch,
                monitor="val_loss",
                mode="min",
                value=val_loss,
                best=0.04,
                best_epoch=min(epoch, 40),
                wait_count=0,
                patience=1000,
                improved=epoch <= 40,
            )
        )
    return events


async def press(pilot: Pilot[None], *keys: str) -> None:
    """Press the keys, then let the app redraw."""
    await pilot.press(*keys)
    await pilot.pause()


def chart_app(events: list[ev.Event]) -> tuple[TrainApp, FakeJob]:
    job = FakeJob(events, hold=True)
    return TrainApp(job, Control(), clock=lambda: events[-1].time + 1), job


@async_test
async def test_a_long_run_fills_the_chart_with_its_tail() -> None:
    """150 epochs: the y range follows the tail, the first epochs are clipped and marked."""
    events = long_run()
    app, job = chart_app(events)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        chart = app.query_one(LossChart)
        low, high = chart.y_range
        tail = [e.val_loss or 0.0 for e in events if isinstance(e, ev.EpochEnded)][5:]
        assert high < 0.5 and (max(tail) - min(tail)) / (high - low) > 0.5
        assert chart.drawn.off_scale > 0 and "clipped" in str(chart.border_title)
        assert chart.x_range[1] == 150 * STEPS
        frame = chart.render()
        assert isinstance(frame, Text)
        assert frame.plain.splitlines()[-1].startswith("step ")  # x is named, on its axis
        job.release.set()


@async_test
async def test_a_wild_first_val_loss_is_clipped_not_the_scale() -> None:
    """A first val loss of 369 leaves the step loss readable: it is marked, not charted."""
    app, job = chart_app(long_run(epochs=12, first_val_loss=369.0))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        chart = app.query_one(LossChart)
        assert chart.y_range[1] < 3.0 and chart.drawn.off_scale >= 1
        await press(pilot, "y")
        assert chart.y_range[1] < math.log10(369.0)  # on a log scale too
        job.release.set()


@async_test
async def test_y_toggles_the_log_scale_of_both_charts() -> None:
    app, job = chart_app(long_run())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        charts = list(app.query(EventChart))
        linear = app.query_one(LossChart).y_range
        await press(pilot, "y")
        assert all(chart.view.log_y for chart in charts)
        assert all("log" in str(chart.border_title) for chart in charts)
        low, high = app.query_one(LossChart).y_range
        # log10 units: the smallest losses (0.01) at -2, the clipped first epochs above 0.2
        assert -2.2 < low < -1.9 and -1.0 < high < math.log10(0.25)
        assert (low, high) != linear
        await press(pilot, "y")
        assert not any(chart.view.log_y for chart in charts)
        job.release.set()


@async_test
async def test_log_scale_of_a_metric_with_zeros_leaves_them_out_and_says_so() -> None:
    app, job = chart_app(long_run(epochs=30))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        chart = app.query_one(AccuracyChart)
        while chart.shown != "grad_norm":
            await pilot.press("m")
        await press(pilot, "y")
        assert chart.drawn.not_logged and "≤0 left out" in str(chart.border_title)
        job.release.set()


@async_test
async def test_w_cycles_the_window_of_both_charts() -> None:
    """Whole run, the last 20 epochs, around the best epoch (40), the whole run again."""
    app, job = chart_app(long_run())
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        loss, accuracy = app.query_one(LossChart), app.query_one(AccuracyChart)
        assert accuracy.x_range == (1, 150)
        await press(pilot, "w")
        low, high = loss.x_range  # steps of epochs 131..150 (the first may be binned)
        assert 130 * STEPS < low <= 131 * STEPS and high == 150 * STEPS
        assert accuracy.x_range == (131, 150) and "last 20" in str(accuracy.border_title)
        await press(pilot, "w")
        assert accuracy.x_range == (40 - AROUND_BEST, 40 + AROUND_BEST)
        assert "best ±5" in str(loss.border_title)
        await press(pilot, "w")
        assert accuracy.x_range == (1, 150)
        job.release.set()


@async_test
async def test_plus_and_minus_set_the_smoothing() -> None:
    """+ smooths more, - less, down to the raw series alone; the legend says the weight."""
    app, job = chart_app(long_run(epochs=10))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        chart = app.query_one(LossChart)
        assert "smoothed 0.6" in str(chart.border_title)
        await press(pilot, "plus", "equals_sign")
        assert chart.view.smoothing == 0.9 and "smoothed 0.9" in str(chart.border_title)
        await press(pilot, "minus", "minus", "minus", "minus")
        assert chart.view.smoothing == 0.0 and "smoothed" not in str(chart.border_title)
        job.release.set()


@async_test
async def test_every_scalar_the_run_logs_can_be_charted() -> None:
    """Accuracy, a step metric, a val metric of the epoch end, the learning rate: `m`
    reaches each."""
    app, job = chart_app(long_run(epochs=5))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot, job)
        chart = app.query_one(AccuracyChart)
        assert chart.choices() == ["accuracy", "grad_norm", "val/perplexity", "lr"]
        seen = []
        for _ in chart.choices():
            seen.append(chart.shown)
            await press(pilot, "m")
            assert chart.y_range[0] < chart.y_range[1]
            if chart.shown == "lr":
                assert str(chart.border_title).startswith("[b]Learning rate[/b]")
        assert seen == chart.choices()
        job.release.set()


def test_the_help_lists_the_chart_keys() -> None:
    rows = dict(help_rows(watching=False))
    assert "log-scale" in rows["y"] and "last 20 epochs" in rows["w"]
    assert "more / less" in rows["+/-"] and "-" not in rows
