"""Loss chart: per-step training loss, its smoothed curve, per-epoch train and validation."""

from __future__ import annotations

from functools import singledispatchmethod

from textual_plotext import Plot

from trainui.core import events as ev
from trainui.core.run_summary import RunSummary
from trainui.core.series import BoundedSeries, Smoother

from .chart import EventChart, legend_entry, nice_ticks, rgb, tick_label


class LossChart(EventChart):
    """Loss against the global step."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.step_loss = BoundedSeries()
        self.smooth_loss = BoundedSeries()
        self.train_loss = BoundedSeries(capacity=1024)
        self.val_loss = BoundedSeries(capacity=1024)
        self._smoother = Smoother()
        self.lr_set_at: list[float] = []
        """Global steps where someone changed the learning rate (`l`, `trainui control`)."""
        self.rolled_back_at: list[float] = []
        """Global steps training went back to after its loss went bad (`--on-nan rollback`)."""

    def add_step_losses(self, pairs: list[list[float]]) -> None:
        """Append [global_step, loss] pairs."""
        for step, loss in pairs:
            self.step_loss.append(step, loss)
            self.smooth_loss.append(step, self._smoother.update(loss))
        if pairs:
            self.mark_dirty()

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow per-epoch losses (step losses come through add_step_losses)."""

    @take.register
    def _(self, event: ev.EpochEnded) -> None:
        for series, value in ((self.train_loss, event.train_loss),
                              (self.val_loss, event.val_loss)):
            if value is not None:
                series.append(event.global_step, value)
        self.mark_dirty()

    @take.register
    def _(self, event: ev.RunStarted) -> None:
        if event.start_epoch:
            at = event.start_epoch * event.steps_per_epoch
            self.start_session(at, [
                self.step_loss, self.smooth_loss, self.train_loss, self.val_loss])
            self.lr_set_at = [step for step in self.lr_set_at if step <= at]

    @take.register
    def _(self, event: ev.RolledBack) -> None:
        for series in (self.step_loss, self.smooth_loss, self.train_loss, self.val_loss):
            series.truncate(event.to_step)
        self.rolled_back_at.append(event.to_step)
        self.mark_dirty()

    @take.register
    def _(self, event: ev.LRChanged) -> None:
        if event.scheduler == ev.USER_LR_CHANGE:
            self.lr_set_at.append(event.global_step)
            self.mark_dirty()

    def restore(self, summary: RunSummary) -> None:
        """Epoch points and sessions from the replay, learning rates set from the log
        tail; every step loss the summary kept."""
        for event in sorted([*summary.replay(), *(e for e in summary.log
                                                   if isinstance(e, ev.LRChanged | ev.RolledBack))],
                            key=lambda e: e.time):
            self.take(event)
        xs, ys = summary.step_loss.points()
        self.add_step_losses([[x, y] for x, y in zip(xs, ys, strict=True)])

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """Raw steps faint underneath, smoothed on top, epochs as markers."""
        if not (len(self.step_loss) or len(self.train_loss) or len(self.val_loss)):
            return
        first, _ = self.step_loss.points()
        ticks = nice_ticks(first[0] if first else 0, max(self._last_step(), 1))
        plt.xticks([float(t) for t in ticks], [tick_label(tick) for tick in ticks])
        for series, color in ((self.step_loss, "step_loss"), (self.smooth_loss, "smooth_loss")):
            xs, ys = self.fit(*series.points())
            if xs:
                plt.plot(xs, ys, color=rgb(colors[color]), marker="braille")
        for series, color, marker in ((self.train_loss, "train", "•"), (self.val_loss, "val", "x")):
            xs, ys = self.fit(*series.points())
            if xs:
                plt.scatter(xs, ys, color=rgb(colors[color]), marker=marker)
        self.plot_sessions(plt, colors)
        for step in self.lr_set_at:
            plt.vertical_line(step, color=rgb(colors["lr"]))
        for step in self.rolled_back_at:
            plt.vertical_line(step, color=rgb(colors["wrong"]))

    def _last_step(self) -> float:
        ends = [series.last[0] for series in (self.step_loss, self.train_loss, self.val_loss)
                if series.last]
        return max(ends, default=0.0)

    def legend(self, colors: dict[str, str]) -> str:
        """Loss, then one entry per series."""
        entries = (
            legend_entry("⠉", "step", colors["step_loss"]),
            legend_entry("⠉", "smoothed", colors["smooth_loss"]),
            legend_entry("•", "train", colors["train"]),
            legend_entry("x", "val", colors["val"]),
            *self.session_legend(colors),
            *([legend_entry("│", "LR set", colors["lr"])] if self.lr_set_at else []),
            *([legend_entry("│", "rollback", colors["wrong"])] if self.rolled_back_at else []),
        )
        return "[b]Loss[/]  " + " ".join(entries)
