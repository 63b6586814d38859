"""Figure 8c: background vs inline checkpoint writes, alternated in blocks inside one run.

    python bench/checkpoint_blocks.py                     # 3 runs of 96 epochs
    python bench/checkpoint_blocks.py --runs 1 --epochs 8

Whole-run A/Bs on a shared 2-vCPU machine swing by tens of percent between slow and quiet
phases lasting tens of seconds. Here one `fit` of figure 1's workload (digits, default
CNN, Adam, 1 torch thread) saves best and last every epoch and switches its checkpoint
writer between the background thread and the training thread every `--block` epochs, in
the order B I I B (so drift hits both alike). Each epoch's wall time (epoch end to epoch
end: training, validation, the save, and whatever a background write takes from the next
epoch) is put in its design's pile; the first two epochs of each pile are dropped.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from typing import Any

from common import bench_parser, emit, machine, median

PATTERN = "BIIB"


def one_run(epochs: int, block: int) -> dict[str, Any]:
    """Train once, alternating the writer; per-design epoch times in seconds."""
    import torch
    from overhead_variants import workload

    from trainui.core import Checkpointing, fit
    from trainui.core.callbacks import Callback
    from trainui.core.events import EpochEnded

    torch.set_num_threads(1)
    model, train, val, optimizer, criterion = workload()
    ends: list[float] = []
    modes: list[bool] = []

    def sink(event: object) -> None:
        if isinstance(event, EpochEnded):
            ends.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        checkpointing = Checkpointing(tmp, final_weights=None, restore_best=False)

        class Alternate(Callback):
            order = 0

            def on_epoch_start(self, loop: Any) -> None:
                background = PATTERN[(loop.epoch // block) % len(PATTERN)] == "B"
                checkpointing.files.background = background
                modes.append(background)

        started = time.perf_counter()
        fit(model, train, val, criterion, optimizer, epochs=epochs, device="cpu",
            callbacks=[Alternate(), checkpointing], sinks=[sink])
    seconds = [end - start for start, end in zip([started, *ends[:-1]], ends, strict=True)]
    background = [s for s, m in zip(seconds, modes, strict=True) if m][2:]
    inline = [s for s, m in zip(seconds, modes, strict=True) if not m][2:]
    return {"background": background, "inline": inline,
            "ratio_of_means": statistics.mean(inline) / statistics.mean(background),
            "ratio_of_medians": median(inline) / median(background)}


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__, runs=3, epochs=96, block=4)
    args = parser.parse_args(argv)
    drawn = [PATTERN[(epoch // max(args.block, 1)) % len(PATTERN)] for epoch in range(args.epochs)]
    if args.block < 1 or min(drawn.count("B"), drawn.count("I")) < 3:
        parser.error("each design needs 3 epochs or more (its first two are dropped): give "
                     "more --epochs or a smaller --block")
    runs = []
    for index in range(args.runs):
        run = one_run(args.epochs, args.block)
        runs.append(run)
        print(f"[{index + 1}/{args.runs}] epoch: background {median(run['background']) * 1e3:.1f}"
              f" ms, inline {median(run['inline']) * 1e3:.1f} ms (medians); inline/background "
              f"{run['ratio_of_means']:.4f} (means), {run['ratio_of_medians']:.4f} (medians)",
              file=sys.stderr)
    return emit({"figure": "checkpoint_blocks", "machine": machine(), "epochs": args.epochs,
                 "block": args.block, "runs": runs,
                 "ratio_of_means": median([r["ratio_of_means"] for r in runs]),
                 "ratio_of_medians": median([r["ratio_of_medians"] for r in runs])}, args.out)


if __name__ == "__main__":
    sys.exit(main())
