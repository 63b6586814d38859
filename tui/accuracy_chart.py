"""The metric chart: train and validation accuracy per epoch, in percent, and (cycled
with `m`) every other scalar the run logs: perplexity, grad norm, BLEU..., and the
learning rate."""

from __future__ import annotations

import math
from functools import singledispatchmethod

from textual_plotext import Plot

from trainui.core import events as ev
from trainui.core.run_summary import RunSummary
from trainui.core.series import BoundedSeries

from .chart import RAW, EventChart, Line, legend_entry
from .chart_view import Points

ACCURACY = "accuracy"
LR = "lr"
"""The learning rate, last in the cycle (the LR panel shows it too, without axes)."""
MAX_METRICS = 64
"""Names charted at most (a run that logs more shows the first ones)."""


class AccuracyChart(EventChart):
    """Accuracy against the epoch, or another logged metric against its step or epoch."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.train = BoundedSeries(capacity=1024)
        self.val = BoundedSeries(capacity=1024)
        self.steps: dict[str, BoundedSeries] = {}
        """Metrics logged with training steps (Progress), against the global step."""
        self.epochs: dict[str, BoundedSeries] = {}
        """Metrics of epoch ends (EpochEnded), against the epoch."""
        self.lr = BoundedSeries(capacity=512)
        """The learning rate of progress events and of changes, against the global step."""
        self.showing: str | None = None
        """The metric chosen with `m`; None shows accuracy (or, without it, the first)."""
        self._offered = 1

    # ---- what can be shown ----------------------------------------------------------
    def choices(self) -> list[str]:
        """Accuracy (when the run has it, or nothing else), every other metric, the LR."""
        others = list(dict.fromkeys([*self.steps, *self.epochs]))
        has_accuracy = bool(len(self.train) or len(self.val)) or not others
        lr = [LR] if len(self.lr) and LR not in others else []
        return ([ACCURACY] if has_accuracy else []) + others + lr

    def _is_lr(self, name: str) -> bool:
        """`name` is the learning rate (not a metric the run calls `lr`)."""
        return name == LR and name not in self.steps and name not in self.epochs

    @property
    def shown(self) -> str:
        """The metric on screen."""
        choices = self.choices()
        return self.showing if self.showing in choices else choices[0]

    def next_metric(self) -> str:
        """Show the next metric (after the last, accuracy again); return its name."""
        choices = self.choices()
        index = choices.index(self.shown)
        self.showing = choices[(index + 1) % len(choices)]
        self.mark_dirty()
        return self.showing

    # ---- events ---------------------------------------------------------------------
    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow per-epoch accuracies and every other metric."""

    @take.register
    def _(self, event: ev.EpochEnded) -> None:
        for series, value in ((self.train, event.train_acc), (self.val, event.val_acc)):
            if value is not None:
                series.append(event.epoch, 100 * value)
        self._add(self.epochs, event.metrics, event.epoch)
        self.note_epoch(event)
        self._offer()
        self.mark_dirty()

    @take.register
    def _(self, event: ev.EarlyStoppingUpdated) -> None:
        self.note_best(event)

    @take.register
    def _(self, event: ev.Progress) -> None:
        if event.metrics:
            self._add(self.steps, event.metrics, event.global_step)
        if event.lr is not None and math.isfinite(event.lr):
            self.lr.append(event.global_step, event.lr)
        if event.metrics or event.lr is not None:
            self._offer()
            self.mark_dirty()

    @take.register
    def _(self, event: ev.LRChanged) -> None:
        self.lr.append(event.global_step, event.new_lr)
        self._offer()
        self.mark_dirty()

    def _offer(self) -> None:
        """`m` is in the footer while there is more than one metric: say when that changes."""
        offered = len(self.choices())
        if offered != self._offered:
            self._offered = offered
            if self.is_attached:
                self.app.refresh_bindings()

    @take.register
    def _(self, event: ev.RunStarted) -> None:
        if event.start_epoch:
            self.start_session(event.start_epoch, [self.train, self.val, *self.epochs.values()])
            for series in [*self.steps.values(), self.lr]:
                series.truncate(event.start_epoch * event.steps_per_epoch)
            self.forget_epochs_after(event.start_epoch)

    def restore(self, summary: RunSummary) -> None:
        """Every step metric and learning rate the summary kept (not only the latest
        progress's), then the rest of the replay."""
        for name, kept in summary.metrics.items():
            series = self.steps[name] = BoundedSeries(capacity=512)
            for x, y in zip(*kept.points(), strict=True):
                series.append(x, y)
        for x, y in zip(*summary.lr.points(), strict=True):
            self.lr.append(x, y)
        for event in summary.replay():
            if not isinstance(event, ev.Progress):  # (its metrics are in those series)
                self.take(event)
        self.mark_dirty()

    def _add(self, table: dict[str, BoundedSeries], metrics: dict[str, float], x: float) -> None:
        for name, value in metrics.items():
            if table is self.epochs and name in self.steps:
                continue  # a step metric's epoch mean: its steps are charted already
            if table is self.steps and name in self.epochs:
                name += " (step)"  # first seen at an epoch end: two x axes, two entries
            series = table.get(name)
            if series is None:
                if len(self.steps) + len(self.epochs) >= MAX_METRICS:
                    continue
                series = table[name] = BoundedSeries(capacity=512)
            series.append(x, value)

    # ---- drawing --------------------------------------------------------------------
    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """The chosen metric: one line per split (markers differ so colour is not the
        only cue), or the metric's own line, smoothed when it is per step."""
        name = self.shown
        if name == ACCURACY:
            lines = [
                line
                for series, color, marker in ((self.train, "train", "•"), (self.val, "val", "x"))
                for line in _marked(series.points(), color, marker)
            ]
            self.draw(plt, colors, lines, per_epoch=True, x_unit="epoch")
            self.plot_sessions(plt, colors)
            return
        if self._is_lr(name):  # a schedule: drawn as it is, never smoothed
            self.draw(
                plt,
                colors,
                [Line.of(self.lr.points(), "lr", "braille")],
                per_epoch=False,
                x_unit="step",
            )
            return
        per_epoch = name not in self.steps
        series = (self.epochs if per_epoch else self.steps).get(name)
        if series is None:
            return
        if per_epoch:
            self.draw(
                plt, colors, _marked(series.points(), "val", "x"), per_epoch=True, x_unit="epoch"
            )
            self.plot_sessions(plt, colors)
        else:
            self.draw(
                plt, colors, self.smoothed(series.points(), "train"), per_epoch=False, x_unit="step"
            )

    def legend(self, colors: dict[str, str]) -> str:
        """The metric's name, its series, and (with several) where `m` is in the cycle."""
        choices = self.choices()
        name = self.shown
        cycle = (
            f"  [dim]m: next ({choices.index(name) + 1}/{len(choices)})[/]"
            if len(choices) > 1
            else ""
        )
        if name == ACCURACY:
            if not len(self.train) and not len(self.val):
                return "[b]Accuracy %[/]  [dim]after the first epoch[/]" + cycle
            entries = [
                legend_entry("•", "train", colors["train"]),
                legend_entry("x", "val", colors["val"]),
                *self.session_legend(colors),
            ]
            return self.title("Accuracy %") + "  " + " ".join(entries + self.view_legend()) + cycle
        weight = self.view.smoothing
        if self._is_lr(name):
            entries = [legend_entry("⠉", "per step", colors["lr"])]
        elif name not in self.steps:
            entries = [legend_entry("x", "per epoch", colors["val"])]
        elif weight:
            entries = [
                legend_entry(RAW, "step", colors["step_loss"]),
                legend_entry("⠉", f"smoothed {weight:g}", colors["train"]),
            ]
        else:
            entries = [legend_entry("⠉", "per step", colors["train"])]
        shown_as = "Learning rate" if self._is_lr(name) else _escape(name)
        return self.title(shown_as) + "  " + " ".join(entries + self.view_legend()) + cycle


def _marked(points: Points, color: str, marker: str) -> list[Line]:
    """A per-epoch series: a line, with a marker on each epoch."""
    return [Line.of(points, color, "braille"), Line.of(points, color, marker, joined=False)]


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
