"""The few lines printed when the live view closes: how the run ended, its best epoch and
test scores, where it is, and the commands to watch or resume it."""

from __future__ import annotations

import shlex
from pathlib import Path

from . import formats
from .config import EPOCH_SHAPED_SCHEDULERS
from .event_text import scores_line
from .events import Failed, Finished, RunStarted
from .outcome import RunState, StopCause
from .run_dir import is_script_run
from .run_summary import RunSummary


def exit_summary(run_dir: Path, summary: RunSummary, *, trainer_alive: bool,
                 pid: int | None = None) -> str:
    """The summary of the run in `run_dir` as it stands (`summary`, its RunSummary)."""
    started = summary.started
    name = started.run_name if started is not None else run_dir.name
    lines = [f"trainui: {name} {outcome(summary, trainer_alive, pid)}"]
    lines += [f"  {line}" for line in _figures(summary)]
    where = shlex.quote(str(run_dir))
    lines.append(f"  run dir  {run_dir}")
    lines.append(f"  watch    trainui watch {where}")
    more = _resume_command(run_dir, summary, trainer_alive)
    if more is not None:
        lines.append(f"  resume   {more}")
    return "\n".join(lines)


def outcome(summary: RunSummary, trainer_alive: bool, pid: int | None = None) -> str:
    """`finished: completed 9 epochs`, `failed: CUDA out of memory`, `is running (epoch 4):
    it goes on in the background (pid 4242)`."""
    ending = summary.ending()
    state = summary.state(trainer_alive)
    if isinstance(ending, Finished):
        return f"{state}: {ending.reason}"
    if isinstance(ending, Failed):
        return f"failed: {ending.message}"
    if state in (RunState.RUNNING, RunState.PAUSED, RunState.STARTING):
        where = f" (epoch {summary.epochs[-1].epoch + 1})" if summary.epochs else ""
        who = f" (pid {pid})" if pid is not None else ""
        return f"is {state}{where}: it goes on in the background{who}"
    return "was interrupted before it finished"


def _figures(summary: RunSummary) -> list[str]:
    """The epochs and time, the best monitored value and the test scores, where known."""
    ending = summary.ending()
    done = []
    if isinstance(ending, Finished):
        done.append(f"{ending.epochs_completed} epochs in {formats.duration(ending.elapsed)}")
    best = summary.best()
    if best is not None and best.best is not None:
        done.append(f"best {best.monitor} {formats.metric(best.monitor, best.best)} at epoch "
                    f"{best.best_epoch}")
    figures = ["; ".join(done)] if done else []
    if isinstance(ending, Finished) and ending.metrics:
        split = str(ending.metrics.get("split", "test"))
        figures.append(f"{split} {scores_line(ending.metrics)}")
    return figures


def _resume_command(run_dir: Path, summary: RunSummary, trainer_alive: bool) -> str | None:
    """How to train the run on: none while it trains, failed with a non-finite loss, or is
    your own code's (run that again); up to more epochs once it has run all it had."""
    ending = summary.ending()
    started = summary.started
    if trainer_alive or is_script_run(run_dir) or started is None:
        return None
    if isinstance(ending, Finished) and ending.cause == StopCause.NON_FINITE_LOSS:
        return None
    command = f"trainui train --resume {shlex.quote(str(run_dir))}"
    if isinstance(ending, Finished) and ending.cause in (StopCause.COMPLETED,
                                                         StopCause.EARLY_STOPPING):
        epochs = _more_epochs(started, ending)
        if epochs is None:
            return None
        command += f" --epochs {epochs}"
    return command


def _more_epochs(started: RunStarted, ending: Finished) -> int | None:
    """Epochs in all to train on to: the configured count if the run stopped early, else
    twice the epochs it has; None when its schedule cannot be extended."""
    configured = started.config.get("epochs")
    if isinstance(configured, int) and configured > ending.epochs_completed:
        return configured
    if started.config.get("scheduler") in EPOCH_SHAPED_SCHEDULERS:
        return None
    return 2 * max(1, ending.epochs_completed)
