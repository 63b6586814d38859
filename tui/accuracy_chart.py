"""Accuracy chart: train and validation accuracy per epoch, in percent."""

from __future__ import annotations

from functools import singledispatchmethod

from textual_plotext import Plot

from trainui.core import events as ev
from trainui.core.series import BoundedSeries

from .chart import EventChart, legend_entry, nice_ticks, rgb, tick_label


class AccuracyChart(EventChart):
    """Accuracy against the epoch."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.train = BoundedSeries(capacity=1024)
        self.val = BoundedSeries(capacity=1024)

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow per-epoch accuracies."""

    @take.register
    def _(self, event: ev.EpochEnded) -> None:
        self.train.append(event.epoch, 100 * event.train_acc)
        self.val.append(event.epoch, 100 * event.val_acc)
        self.mark_dirty()

    @take.register
    def _(self, event: ev.RunStarted) -> None:
        if event.start_epoch:
            self.start_session(event.start_epoch, [self.train, self.val])

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """One line per split, markers differ so colour is not the only cue."""
        if not len(self.train):
            return
        for series, color, marker in ((self.train, "train", "•"), (self.val, "val", "x")):
            xs, ys = self.fit(*series.points())
            plt.plot(xs, ys, color=rgb(colors[color]), marker="braille")
            plt.scatter(xs, ys, color=rgb(colors[color]), marker=marker)
        ticks = nice_ticks(1, self.train.last[0] if self.train.last else 1)
        plt.xticks([float(t) for t in ticks], [tick_label(tick) for tick in ticks])
        self.plot_sessions(plt, colors)

    def legend(self, colors: dict[str, str]) -> str:
        """Accuracy, then train and val entries (or when data will come)."""
        if not len(self.train):
            return "[b]Accuracy %[/]  [dim]after the first epoch[/]"
        entries = (legend_entry("•", "train", colors["train"]),
                   legend_entry("x", "val", colors["val"]), *self.session_legend(colors))
        return "[b]Accuracy %[/]  " + " ".join(entries)
