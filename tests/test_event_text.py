"""One wording for every event: the headless lines and the live view's log say the same."""

from __future__ import annotations

import io

from trainui.core import events as ev
from trainui.core.console import ConsoleSink
from trainui.core.event_text import describe, format_metric, run_relative
from tui_fixtures import finished_events


def test_every_noteworthy_recorded_event_has_a_line() -> None:
    """Saves, LR changes, pauses, early stops and the end get a line; progress and the
    every-epoch `last` checkpoint do not."""
    lines: dict[str, list[str | None]] = {}
    for event in finished_events():
        lines.setdefault(event.kind, []).append(describe(event))
    assert set(lines["progress"]) == {None}
    saved = [line for line in lines["checkpoint_saved"] if line]
    assert "checkpoint best (val_loss 0.2301): checkpoints/best.pt" in saved
    assert "checkpoint requested: checkpoints/saved-step-00000071.pt" in saved
    assert not any("last.pt" in line for line in saved)
    assert lines["lr_changed"][0] == "lr 0.003 -> 0.0003 (StepLR)"
    assert lines["paused"][0].startswith("paused at step")
    assert lines["finished"][0].startswith("finished in ")


def test_epoch_line_is_aligned_and_complete() -> None:
    """The epoch number is padded to the width of the epoch count."""
    event = ev.EpochEnded(epoch=3, epochs=20, train_loss=0.5, train_acc=0.875, val_loss=0.25,
                          val_acc=0.9, lr=1e-3, epoch_time=1.25, samples_per_second=1234.4,
                          global_step=30)
    assert describe(event) == ("epoch  3/20  train loss 0.5000 acc  87.50%  val loss 0.2500 "
                               "acc  90.00%  lr 0.001  1.2s  1,234 samples/s")


def test_failure_and_non_finite_loss() -> None:
    """The failure reason and the bad loss value are in the line."""
    assert describe(ev.Failed(message="CUDA out of memory")) == "failed: CUDA out of memory"
    bad = ev.NonFiniteLoss(epoch=2, global_step=31, value="nan")
    assert describe(bad) == "non-finite loss (nan) at step 31: stopping"


def test_metric_format() -> None:
    """Accuracies as percentages, losses with four decimals."""
    assert format_metric("val_acc", 0.9712) == "97.12%"
    assert format_metric("val_loss", 0.1234567) == "0.1235"
    assert format_metric("val_loss", None) == "n/a"


def test_paths_are_named_as_the_run_directory_names_them() -> None:
    assert run_relative("runs/x/checkpoints/best.pt") == "checkpoints/best.pt"
    assert run_relative("/abs/runs/x/final_model.pt") == "final_model.pt"


def test_console_prints_the_same_lines_and_failures_only_when_asked() -> None:
    """ConsoleSink prints describe()'s line; Failed only with failures=True."""
    out = io.StringIO()
    sink = ConsoleSink(out)
    events = [e for e in finished_events() if describe(e) is not None]
    for event in [*events, ev.Failed(message="boom")]:
        sink(event)
    assert out.getvalue().splitlines() == [describe(e) for e in events]
    loud = io.StringIO()
    ConsoleSink(loud, failures=True)(ev.Failed(message="boom"))
    assert loud.getvalue() == "failed: boom\n"
