"""Loss chart: per-step training loss, raw and smoothed, per-epoch train and validation."""

from __future__ import annotations

from functools import singledispatchmethod

from textual_plotext import Plot

from trainui.core import events as ev
from trainui.core.run_summary import RunSummary
from trainui.core.series import BoundedSeries

from .chart import RAW, EventChart, Line, legend_entry


class LossChart(EventChart):
    """Loss against the global step."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.step_loss = BoundedSeries()
        self.train_loss = BoundedSeries(capacity=1024)
        self.val_loss = BoundedSeries(capacity=1024)
        self.lr_set_at: list[float] = []
        """Global steps where someone changed the learning rate (`l`, `trainui control`)."""
        self.rolled_back_at: list[float] = []
        """Global steps training went back to after its loss went bad (`--on-nan rollback`)."""

    def add_step_losses(self, pairs: list[list[float]]) -> None:
        """Append [global_step, loss] pairs."""
        for step, loss in pairs:
            self.step_loss.append(step, loss)
        if pairs:
            self.mark_dirty()

    @singledispatchmethod
    def take(self, event: ev.Event) -> None:
        """Follow per-epoch losses (step losses come through add_step_losses)."""

    @take.register
    def _(self, event: ev.EpochEnded) -> None:
        for series, value in ((self.train_loss, event.train_loss), (self.val_loss, event.val_loss)):
            if value is not None:
                series.append(event.global_step, value)
        self.note_epoch(event)
        self.mark_dirty()

    @take.register
    def _(self, event: ev.EarlyStoppingUpdated) -> None:
        self.note_best(event)

    @take.register
    def _(self, event: ev.RunStarted) -> None:
        if event.start_epoch:
            at = event.start_epoch * event.steps_per_epoch
            self.start_session(at, [self.step_loss, self.train_loss, self.val_loss])
            self.forget_epochs_after(event.start_epoch)
            self.lr_set_at = [step for step in self.lr_set_at if step <= at]

    @take.register
    def _(self, event: ev.RolledBack) -> None:
        for series in (self.step_loss, self.train_loss, self.val_loss):
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
        for event in sorted(
            [
                *summary.replay(),
                *(e for e in summary.log if isinstance(e, ev.LRChanged | ev.RolledBack)),
            ],
            key=lambda e: e.time,
        ):
            self.take(event)
        xs, ys = summary.step_loss.points()
        self.add_step_losses([[x, y] for x, y in zip(xs, ys, strict=True)])

    def plot(self, plt: Plot, colors: dict[str, str]) -> None:
        """Raw steps faint under their smoothed curve, epochs as markers."""
        lines = self.smoothed(self.step_loss.points(), "smooth_loss")
        lines += [
            Line.of(self.train_loss.points(), "train", "•", joined=False),
            Line.of(self.val_loss.points(), "val", "x", joined=False),
        ]
        self.draw(plt, colors, lines, per_epoch=False, x_unit="step")
        self.plot_sessions(plt, colors)
        self.vertical_lines(plt, self.lr_set_at, colors["lr"])
        self.vertical_lines(plt, self.rolled_back_at, colors["wrong"])

    def legend(self, colors: dict[str, str]) -> str:
        """Loss, then one entry per series."""
        weight = self.view.smoothing
        steps = (
            (
                legend_entry(RAW, "step", colors["step_loss"]),
                legend_entry("⠉", f"smoothed {weight:g}", colors["smooth_loss"]),
            )
            if weight
            else (legend_entry("⠉", "step", colors["smooth_loss"]),)
        )
        entries = (
            *steps,
            legend_entry("•", "train", colors["train"]),
            legend_entry("x", "val", colors["val"]),
            *self.session_legend(colors),
            *([legend_entry("│", "LR set", colors["lr"])] if self.lr_set_at else []),
            *([legend_entry("│", "rollback", colors["wrong"])] if self.rolled_back_at else []),
            *self.view_legend(),
        )
        return self.title("Loss") + "  " + " ".join(entries)
