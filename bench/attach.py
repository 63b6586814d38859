"""Attach cost of long runs, and how fast events.jsonl grows.

    python bench/attach.py --out bench/results/attach.json
    python bench/attach.py --hours 1 --epochs 100 --repeats 2      # a quick look

Builds a run directory the way a trainer writes it (through trainui's own RunRecord):
`--hours` of training at the loop's default progress rate (4 Progress events a second,
each with the step losses since the previous one), `--epochs` epochs with their
epoch-end events, LR changes and checkpoints, then Finished. It then times:
- `trainui runs` over 20 such runs (hard links of the one built);
- `trainui watch RUN` in a 120x40 pty, from spawn to the finished run on screen;
- the same with summary.json removed, as for runs made before summaries existed: the first
  `runs` (which reads every log once and keeps the summaries), the next one, and the first
  `watch`;
and reports the size of events.jsonl per training hour.
"""

from __future__ import annotations

import argparse
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import bench_parser, emit, load_average, machine, median, trainui_command

RUNS_LISTED = 20
PROGRESS_PER_SECOND = 4.0
STEPS_PER_SECOND = 12.0


def build(run_dir: Path, hours: float, epochs: int) -> dict[str, Any]:
    """Write a long finished run into `run_dir`; return its sizes."""
    from trainui.core import events as ev
    from trainui.core.config import RunConfig
    from trainui.core.run_dir import prepare_run_dir
    from trainui.core.run_record import RunRecord

    steps_per_epoch = round(hours * 3600 * STEPS_PER_SECOND / epochs)
    prepare_run_dir(RunConfig(epochs=epochs, run_dir=str(run_dir)))
    record = RunRecord(run_dir)
    now = 1_800_000_000.0
    record(ev.RunStarted(time=now, run_name=run_dir.name, run_dir=str(run_dir), config={},
                         device="cpu", model_name="cnn", parameter_count=99_562,
                         dataset_name="digits", train_size=1257, val_size=270, test_size=270,
                         class_names=[str(i) for i in range(10)], epochs=epochs,
                         steps_per_epoch=steps_per_epoch))
    epoch_seconds = hours * 3600 / epochs
    per_epoch = max(1, round(epoch_seconds * PROGRESS_PER_SECOND))
    step, lr, best = 0, 1e-3, float("inf")
    for epoch in range(1, epochs + 1):
        for index in range(1, per_epoch + 1):
            first = step + 1
            step = (epoch - 1) * steps_per_epoch + index * steps_per_epoch // per_epoch
            now += 1 / PROGRESS_PER_SECOND
            losses = [[float(s), 1.0 / (1 + s / 1000)] for s in range(first, step + 1)]
            record(ev.Progress(time=now, epoch=epoch, epochs=epochs,
                               step=index * steps_per_epoch // per_epoch,
                               steps_per_epoch=steps_per_epoch, global_step=step,
                               train_loss=0.5, train_acc=0.9, samples_per_second=768.0, lr=lr,
                               step_losses=losses))
        val_loss = 1.0 / (1 + epoch / 50)
        record(ev.EpochEnded(time=now, epoch=epoch, epochs=epochs, train_loss=0.5,
                             train_acc=0.9, val_loss=val_loss, val_acc=0.9, lr=lr,
                             epoch_time=epoch_seconds, samples_per_second=768.0,
                             global_step=step))
        improved = val_loss < best
        best = min(best, val_loss)
        record(ev.EarlyStoppingUpdated(time=now, epoch=epoch, monitor="val_loss", mode="min",
                                       value=val_loss, best=best, best_epoch=epoch,
                                       wait_count=0, patience=epochs, improved=improved))
        for reason in ("best", "last") if improved else ("last",):
            record(ev.CheckpointSaved(time=now, path=str(run_dir / f"checkpoints/{reason}.pt"),
                                      reason=reason, epoch=epoch, global_step=step,
                                      monitor="val_loss", value=val_loss))
        if epoch % 100 == 0:
            record(ev.LRChanged(time=now, epoch=epoch, global_step=step, old_lr=lr,
                                new_lr=lr / 2, scheduler="StepLR"))
            lr /= 2
    record(ev.TrainingStopped(time=now, epoch=epochs, global_step=step, cause="completed",
                              reason=f"completed {epochs} epochs"))
    record(ev.Finished(time=now + 1, cause="completed", reason=f"completed {epochs} epochs",
                       epochs_completed=epochs, global_step=step, elapsed=hours * 3600,
                       metrics=None, confusion_matrix=None, class_names=[]))
    record.close()
    log_bytes = (run_dir / "events.jsonl").stat().st_size
    return {"events_bytes": log_bytes, "events_lines": _lines(run_dir / "events.jsonl"),
            "summary_bytes": (run_dir / "summary.json").stat().st_size,
            "mb_per_training_hour": round(log_bytes / 1e6 / hours, 2)}


def _lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def link_copies(run_dir: Path, root: Path, count: int) -> None:
    """`count` runs under `root` sharing the built run's files (hard links)."""
    for index in range(count):
        copy = root / f"{run_dir.name}-{index:02d}"
        copy.mkdir(mode=0o700)
        for file in run_dir.iterdir():
            if file.is_file():
                os.link(file, copy / file.name)


def time_runs(root: Path) -> float:
    """Seconds `trainui runs --root ROOT` takes."""
    started = time.perf_counter()
    subprocess.run([*trainui_command(), "runs", "--root", str(root)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def time_watch(run_dir: Path, timeout: float = 120.0) -> float:
    """Seconds from spawning `trainui watch RUN` in a 120x40 pty to the finished run shown."""
    started = time.perf_counter()
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TERM="xterm-256color", COLUMNS="120", LINES="40")
        os.execv(trainui_command()[0], [*trainui_command(), "watch", str(run_dir)])
    seen = b""
    try:
        while time.perf_counter() - started < timeout:
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                try:
                    seen += os.read(fd, 65536)
                except OSError:
                    break
                if b"FINISHED" in seen:
                    return time.perf_counter() - started
        return float("nan")
    finally:
        os.write(fd, b"q")
        _reap(pid)
        os.close(fd)


def _reap(pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        base = Path(folder)
        built = base / "long-run"
        started = time.perf_counter()
        sizes = build(built, args.hours, args.epochs)
        build_seconds = time.perf_counter() - started
        results: dict[str, Any] = {"figure": "attach", "machine": machine(),
                                   "hours": args.hours, "epochs": args.epochs,
                                   "build_seconds": round(build_seconds, 1), **sizes}
        root = base / "runs"
        root.mkdir()
        link_copies(built, root, RUNS_LISTED)
        first = next(iter(sorted(root.iterdir())))
        runs = [time_runs(root) for _ in range(args.repeats)]
        watch = [time_watch(first) for _ in range(args.repeats)]
        results["summary"] = {"runs_seconds": median(runs), "runs_all": runs,
                              "watch_seconds": median(watch), "watch_all": watch}
        # Runs made before summaries: the first look reads each log once and keeps a
        # summary; later looks are as quick as above.
        for summary in root.glob("*/summary.json"):
            summary.unlink()
        cold_runs = time_runs(root)
        warm_runs = time_runs(root)
        cold_watch = []
        for _ in range(args.repeats):
            (first / "summary.json").unlink()
            cold_watch.append(time_watch(first))
        results["no_summary"] = {"runs_first_seconds": cold_runs, "runs_then_seconds": warm_runs,
                                 "watch_first_seconds": median(cold_watch),
                                 "watch_first_all": cold_watch}
        results["load_average_after"] = load_average()
    old = results["no_summary"]
    print(f"events.jsonl {sizes['events_bytes'] / 1e6:.1f} MB for {args.hours:g} h "
          f"({sizes['mb_per_training_hour']} MB/h); runs x{RUNS_LISTED} "
          f"{results['summary']['runs_seconds']:.2f} s, watch "
          f"{results['summary']['watch_seconds']:.2f} s; made before summaries: first runs "
          f"{old['runs_first_seconds']:.1f} s then {old['runs_then_seconds']:.2f} s, first "
          f"watch {old['watch_first_seconds']:.1f} s", file=sys.stderr)
    return emit(results, args.out)


def _parser() -> argparse.ArgumentParser:
    # --tmp: the folder for the scratch runs (default: the system's)
    return bench_parser(__doc__, hours=10.0, epochs=1000, repeats=5, tmp=None)


if __name__ == "__main__":
    sys.exit(main())
