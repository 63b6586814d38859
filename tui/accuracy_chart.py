"""The metric chart: train and validation accuracy per epoch, in percent, and (cycled
with `m`) every other scalar the run logs: perplexity, grad norm, BLEU..."""

from __future__ import annotations

from functools import singledispatchmethod

from textual_plotext import Plot

from trainui.core import events as ev
from trainui.core.run_summary import RunSummary
from trainui.core.series import BoundedSeries

from .chart import EventChart, legend_entry, nice_ticks, rgb, tick_label

ACCURACY = "accuracy"
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
        self.showing: str | None = None
        """The metric chosen with `m`; None shows accuracy (or, without it, the first)."""
        self._offered = 1

    # ---- what can be shown ----------------------------------------------------------
    def choices(self) -> list[str]:
        """Accuracy (when the run has it, or nothing else), then every other metric."""
        others = list(dict.fromkeys([*self.steps, *self.epochs]))
        has_accuracy = bool(len(self.train) or len(self.val)) or not others
        return ([ACCURACY] if has_accuracy else []) + others

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
        self._offer()
        self.mark_dirty()

    @take.register
    def _(self, event: ev.Progress) -> None:
        if event.metrics:
            self._add(self.steps, event.metrics, event.global_step)
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
            self.start_session(event.start_epoch, [self.train, self.val,
                                                   *self.epochs.values()])
            for series in self.steps.values():
                series.truncate(event.start_epoch * event.steps_per_epoch)

    def restore(self, summary: RunSummary) -> None:
        """Every step metric the summary kept (not only the latest progress's), then the
        rest of the replay."""
        for name, kept in summary.metrics.items():
            series = self.steps[name] = BoundedSeries(capacity=512)
            for x, y in zip(*kept.points(), strict=True):
                series.append(x, y)
        for event in summary.replay():
            if not isinstance(event, ev.Progress):  # (its metrics are in those series)
                self.take(event)
        self.mark_dirty()

    def _add(self, table: dict[str, BoundedSeries], metrics: dict[str, float],
             x: float) -> None:
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
        only cue), or the metric's own line."""
        name = self.shown
        if name == ACCURACY:
            self._plot_accuracy(plt, colors)
            return
        per_epoch = name not in self.steps
        series = (self.epochs if per_epoch else self.steps).get(name)
        if series is None or not len(series):
            return
        color = rgb(colors["val" if per_epoch else "train"])
        xs, ys = self.fit(*series.points())
        plt.plot(xs, ys, color=color, marker="braille")
        if per_epoch:
            plt.scatter(xs, ys, color=color, marker="x")
        ticks = nice_ticks(1 if per_epoch else xs[0], max(xs[-1], 1))
        plt.xticks([float(t) for t in ticks], [tick_label(tick) for tick in ticks])
        if per_epoch:
            self.plot_sessions(plt, colors)

    def _plot_accuracy(self, plt: Plot, colors: dict[str, str]) -> None:
        if not len(self.train) and not len(self.val):
            return
        for series, color, marker in ((self.train, "train", "•"), (self.val, "val", "x")):
            if not len(series):
                continue
            xs, ys = self.fit(*series.points())
            plt.plot(xs, ys, color=rgb(colors[color]), marker="braille")
            plt.scatter(xs, ys, color=rgb(colors[color]), marker=marker)
        last = max(s.last[0] for s in (self.train, self.val) if s.last)
        ticks = nice_ticks(1, last)
        plt.xticks([float(t) for t in ticks], [tick_label(tick) for tick in ticks])
        self.plot_sessions(plt, colors)

    def legend(self, colors: dict[str, str]) -> str:
        """The metric's name, its series, and (with several) where `m` is in the cycle."""
        choices = self.choices()
        name = self.shown
        cycle = (f"  [dim]m: next ({choices.index(name) + 1}/{len(choices)})[/]"
                 if len(choices) > 1 else "")
        if name == ACCURACY:
            if not len(self.train) and not len(self.val):
                return "[b]Accuracy %[/]  [dim]after the first epoch[/]" + cycle
            entries = (legend_entry("•", "train", colors["train"]),
                       legend_entry("x", "val", colors["val"]), *self.session_legend(colors))
            return "[b]Accuracy %[/]  " + " ".join(entries) + cycle
        entry = (legend_entry("⠉", "per step", colors["train"]) if name in self.steps
                 else legend_entry("x", "per epoch", colors["val"]))
        return f"[b]{_escape(name)}[/]  {entry}{cycle}"


def _escape(text: str) -> str:
    return text.replace("[", r"\[")
