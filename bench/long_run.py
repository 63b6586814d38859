"""Figure 3: a synthetic 1,000,000-step run through the history and the TUI charts.

    python bench/long_run.py                       # checkpoints at 10k, 100k, 1M steps
    python bench/long_run.py --checkpoints 1000,5000

Memory is what tracemalloc sees the series retain (after gc) at each checkpoint; redraw
time is the median of a few `redraw()` + `render()` calls of a mounted chart at 120x40
(clear -> plot -> plotext build), which is what the app's throttled tick pays.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

from common import bench_parser, emit, machine

STEPS_PER_PROGRESS = 64  # step losses arrive in Progress events, 64 [step, loss] pairs at most
STEPS_PER_EPOCH = 1000
REDRAW_SAMPLES = 5


def main(argv: list[str] | None = None) -> int:
    """Run both parts and print/write the JSON report."""
    args = _parser().parse_args(argv)
    checkpoints = sorted(int(c) for c in args.checkpoints.split(","))
    report: dict[str, Any] = {"figure": "long_run", "machine": machine(),
                              "checkpoints": checkpoints, "history": history_part(checkpoints)}
    report["charts"] = charts_part(checkpoints)
    print(table(report), file=sys.stderr)
    return emit(report, args.out)


def _parser() -> argparse.ArgumentParser:
    p = bench_parser(__doc__)
    p.add_argument("--checkpoints", default="10000,100000,1000000",
                   help="step counts at which to measure (the largest is the run length)")
    return p


def synthetic_losses(steps: int) -> Iterator[tuple[int, float]]:
    """A decaying, noisy loss curve: (global_step, loss) for steps 1..steps."""
    for step in range(1, steps + 1):
        yield step, 2.3 * math.exp(-step / 200_000) + 0.1 * math.sin(step * 0.37) ** 2


def retained_bytes(baseline: int) -> int:
    """Bytes tracemalloc sees allocated now, above `baseline`, after a full collection."""
    gc.collect()
    return tracemalloc.get_traced_memory()[0] - baseline


def history_part(checkpoints: list[int]) -> list[dict[str, Any]]:
    """trainui.core.history.History: its step-loss BoundedSeries fed every step."""
    from trainui.core.history import History

    tracemalloc.start()
    baseline = retained_bytes(0)
    history = History()
    rows, started = [], time.perf_counter()
    for step, loss in synthetic_losses(checkpoints[-1]):
        history.step_loss.append(step, loss)
        if step in checkpoints:
            memory = retained_bytes(baseline)
            rows.append({"steps": step, "retained_bytes": memory,
                         "stored_points": len(history.step_loss),
                         "points_seconds": _median_time(history.step_loss.points),
                         "feed_seconds": time.perf_counter() - started})
    tracemalloc.stop()
    return rows


def charts_part(checkpoints: list[int]) -> dict[str, Any]:
    """The TUI's loss and accuracy charts, mounted in a headless app at 120x40.

    HOOK: this follows the chart API of tui/loss_chart.py and tui/accuracy_chart.py
    (`add_step_losses(pairs)`, `take(EpochEnded)`, `redraw()`, `render()`). If that API
    moves, adapt `_feed` and `_redraw_seconds`; until then the part reports "pending".
    """
    try:
        from textual.app import App, ComposeResult

        from trainui.tui.accuracy_chart import AccuracyChart
        from trainui.tui.loss_chart import LossChart
    except ImportError as exc:
        return {"pending": f"TUI charts not importable: {exc}"}

    class ChartsApp(App[None]):
        """Just the two charts, side by side as in the live view."""

        CSS = "Screen { layout: horizontal; } LossChart, AccuracyChart { width: 1fr; }"

        def compose(self) -> ComposeResult:
            yield LossChart(id="loss")
            yield AccuracyChart(id="accuracy")

    try:
        return asyncio.run(_drive_charts(ChartsApp(), checkpoints))
    except Exception as exc:  # a moving API must not hide the history figures
        return {"pending": f"chart API changed? {type(exc).__name__}: {exc}"}


async def _drive_charts(app: Any, checkpoints: list[int]) -> dict[str, Any]:
    """Two passes over the same stream: memory with tracemalloc on, then redraws with it off."""
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        timing = _chart_redraws(app, checkpoints)
        memory = _chart_memory(app, checkpoints)
        await pilot.pause()
    rows = [{**m, **t} for m, t in zip(memory, timing, strict=True)]
    return {"size": [120, 40], "rows": rows}


def _chart_memory(app: Any, checkpoints: list[int]) -> list[dict[str, Any]]:
    """Fresh, unmounted charts of the same classes: feeding them touches only their series."""
    loss = type(app.query_one("#loss"))()
    accuracy = type(app.query_one("#accuracy"))()
    tracemalloc.start()
    baseline = retained_bytes(0)
    rows, fed = [], 0
    for target in checkpoints:
        _feed(loss, accuracy, fed, target)
        fed = target
        rows.append({"steps": target, "retained_bytes": retained_bytes(baseline),
                     "stored_points": len(loss.step_loss)})
    tracemalloc.stop()
    return rows


def _chart_redraws(app: Any, checkpoints: list[int]) -> list[dict[str, Any]]:
    loss, accuracy = app.query_one("#loss"), app.query_one("#accuracy")
    rows, fed, started = [], 0, time.perf_counter()
    for target in checkpoints:
        _feed(loss, accuracy, fed, target)
        fed = target
        rows.append({"loss_redraw_seconds": _redraw_seconds(loss),
                     "accuracy_redraw_seconds": _redraw_seconds(accuracy),
                     "feed_seconds": time.perf_counter() - started})
    return rows


def _feed(loss: Any, accuracy: Any, first: int, last: int) -> None:
    """Steps first+1..last: step losses in Progress-sized batches, an epoch every 1000."""
    from trainui.core.events import EpochEnded

    batch: list[list[float]] = []
    for step, value in synthetic_losses(last):
        if step <= first:
            continue
        batch.append([float(step), value])
        if len(batch) == STEPS_PER_PROGRESS or step == last:
            loss.add_step_losses(batch)
            batch = []
        if step % STEPS_PER_EPOCH == 0:
            epoch = step // STEPS_PER_EPOCH
            event = EpochEnded(epoch=epoch, epochs=0, train_loss=value, train_acc=0.9,
                               val_loss=value, val_acc=0.88, lr=1e-3, epoch_time=1.0,
                               samples_per_second=1.0, global_step=step)
            loss.take(event)
            accuracy.take(event)


def _redraw_seconds(chart: Any) -> float:
    def redraw() -> None:
        chart.redraw()
        chart.render()

    return _median_time(redraw)


def _median_time(action: Any) -> float:
    times = []
    for _ in range(REDRAW_SAMPLES):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def table(report: dict[str, Any]) -> str:
    """Both parts as Markdown tables."""
    lines = ["| steps | History retained | History points | points() |",
             "|---|---|---|---|"]
    for row in report["history"]:
        lines.append(f"| {row['steps']:,} | {row['retained_bytes'] / 1024:.1f} KiB | "
                     f"{row['stored_points']} | {row['points_seconds'] * 1e3:.2f} ms |")
    charts = report["charts"]
    if "pending" in charts:
        lines.append(f"\ncharts: pending ({charts['pending']})")
        return "\n".join(lines)
    lines += ["", "| steps | charts retained | chart points | loss redraw | accuracy redraw |",
              "|---|---|---|---|---|"]
    for row in charts["rows"]:
        lines.append(f"| {row['steps']:,} | {row['retained_bytes'] / 1024:.1f} KiB | "
                     f"{row['stored_points']} | {row['loss_redraw_seconds'] * 1e3:.1f} ms | "
                     f"{row['accuracy_redraw_seconds'] * 1e3:.1f} ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
