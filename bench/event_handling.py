"""Figure 8b: the training thread's time handling a run's events, per epoch.

    python bench/event_handling.py                 # 4 interleaved repeats of 20 epochs
    python bench/event_handling.py --repeats 1 --epochs 3

`trainui train --headless` as figure 1's `cli` variant runs it (run_training, console
lines, best + last checkpoint every epoch), timing every outermost `EventBus.emit` on the
training thread: events.jsonl, summary.json, history.csv, the console, the checkpoint
callbacks' events. Two designs, each run a fresh process, interleaved:

- `queued`: summary.json and history.csv written by their own threads (`QueuedFiles`),
  a summary's events compacted once (the design now);
- `inline`: both written on the training thread, the whole summary compacted at each
  save (the design before).

Per-epoch time in emit is robust to this machine's slow phases in a way whole-run rates
are not: it counts only the work the training thread does for the events.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import statistics
import subprocess
import sys
import time
from typing import Any

from common import bench_parser, child_env, emit, machine, median, python

DESIGNS = ("queued", "inline")


def main(argv: list[str] | None = None) -> int:
    args = bench_parser(__doc__, repeats=4, epochs=20, child="").parse_args(argv)
    if args.child:
        print(json.dumps(measure_child(args.child, args.epochs)))
        return 0
    runs: dict[str, list[dict[str, Any]]] = {design: [] for design in DESIGNS}
    for repeat in range(args.repeats):
        for design in DESIGNS:
            proc = subprocess.run([python(), __file__, "--child", design, "--epochs",
                                   str(args.epochs)], capture_output=True, text=True,
                                  env=child_env(1), check=True)
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[design].append(result)
            print(f"[{repeat + 1}/{args.repeats}] {design:7} emit/epoch "
                  f"{result['median_ms']:.2f} ms (mean {result['mean_ms']:.2f}), epoch "
                  f"{result['epoch_ms']:.0f} ms", file=sys.stderr)
    summary = {design: {
        "emit_ms_per_epoch_median": median([r["median_ms"] for r in results]),
        "emit_ms_per_epoch_mean": median([r["mean_ms"] for r in results]),
        "epoch_ms_median": median([r["epoch_ms"] for r in results]),
    } for design, results in runs.items()}
    for design, figures in summary.items():
        print(f"{design}: {figures['emit_ms_per_epoch_median']:.2f} ms per epoch in emit "
              f"(median of per-run medians; of means {figures['emit_ms_per_epoch_mean']:.2f}), "
              f"epoch {figures['epoch_ms_median']:.0f} ms", file=sys.stderr)
    return emit({"figure": "event_handling", "machine": machine(), "repeats": args.repeats,
                 "epochs": args.epochs, "summary": summary, "runs": runs}, args.out)


def measure_child(design: str, epochs: int) -> dict[str, Any]:
    """One run of the `cli` variant in this process, timing the training thread's emits."""
    import torch
    from overhead_variants import run_cli

    import trainui.core.run_files as run_files
    import trainui.core.run_summary as run_summary
    from trainui.core import events
    from trainui.core.event_file import compact_values
    from trainui.core.queued_files import QueuedFiles

    torch.set_num_threads(1)
    if design == "inline":
        inline = functools.partial(QueuedFiles, background=False)
        run_files.QueuedFiles = inline  # type: ignore[misc]
        run_summary.QueuedFiles = inline  # type: ignore[misc]
        run_summary.RunSummary.compact_dict = (  # type: ignore[method-assign]
            lambda self: compact_values(self.to_dict()))
    per_epoch: list[float] = []
    depth, spent = [0], [0.0]
    real = events.EventBus.emit

    def timed(self: Any, event: Any, *rest: Any, **options: Any) -> Any:
        depth[0] += 1
        started = time.perf_counter()
        try:
            return real(self, event, *rest, **options)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                spent[0] += time.perf_counter() - started
                if isinstance(event, events.EpochEnded):
                    per_epoch.append(spent[0])
                    spent[0] = 0.0

    events.EventBus.emit = timed  # type: ignore[method-assign]
    with contextlib.redirect_stdout(io.StringIO()):
        result = run_cli(epochs)
    kept = per_epoch[1:] or per_epoch  # the first epoch also opens the files
    return {"design": design, "median_ms": statistics.median(kept) * 1e3,
            "mean_ms": statistics.mean(kept) * 1e3,
            "epoch_ms": statistics.median(result["epoch_seconds"][1:] or
                                          result["epoch_seconds"]) * 1e3,
            "per_epoch_ms": [t * 1e3 for t in per_epoch]}


if __name__ == "__main__":
    sys.exit(main())
