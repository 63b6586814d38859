"""Figure 8: how long a checkpoint stalls the training thread, written inline or in the
background, for the default CNN and for ResNet-18 (CPU).

    python bench/checkpoint_stall.py --repeats 10 --out bench/results/checkpoint_stall.json

Each save is what an epoch end with a new best costs `trainui train`: one snapshot of the
model, Adam's state, the RNG states and the history, written to best.pt and last.pt
(temporary file, fsync, rename). "stall" is the time the training thread spends in the
epoch-end hook; "write" is how long the background thread then takes until both files are
durable (the thread writes while the next epoch trains). Saves alternate inline and
background, with a pause between them so one's write never overlaps the next's stall.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import bench_parser, emit, machine, median

MODELS = {"cnn": (1, 8, 8), "resnet18": (3, 32, 32)}


def build_loop(model_name: str, directory: Path, background: bool) -> tuple[Any, Any]:
    """A Loop in the state of a real run (Adam state populated) and its Checkpointing."""
    import torch
    from torch import nn

    from trainui.core import Checkpointing, Control
    from trainui.core.events import EventBus
    from trainui.core.loop import Loop
    from trainui.core.models import build_model
    from trainui.core.precision import Precision

    torch.manual_seed(0)
    shape = MODELS[model_name]
    model = build_model(model_name, shape, 10)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = nn.functional.cross_entropy(model(torch.randn(4, *shape)), torch.arange(4))
    loss.backward()
    optimizer.step()
    checkpointing = Checkpointing(directory, final_weights=None, restore_best=False,
                                  background=background)
    device = torch.device("cpu")
    loop = Loop(model=model, optimizer=optimizer, criterion=nn.CrossEntropyLoss(),
                device=device, epochs=10**6, bus=EventBus(), control=Control(),
                precision=Precision("off", device), callbacks=[checkpointing],
                metadata={"config": {"model": model_name}})
    return loop, checkpointing


def one_save(loop: Any, checkpointing: Any, epoch: int) -> tuple[float, float]:
    """(stall, write) seconds of one epoch end that saves best.pt and last.pt."""
    loop.epoch = epoch
    metrics = {"epoch": epoch, "val_loss": 1.0 / epoch}  # better every time: best + last
    started = time.perf_counter()
    checkpointing.on_epoch_end(loop, metrics)
    stalled = time.perf_counter()
    checkpointing.flush(loop)
    written = time.perf_counter()
    return stalled - started, written - stalled


def measure(model_name: str, repeats: int, pause: float) -> dict[str, Any]:
    """Interleaved inline and background saves of one model; medians and ratio."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        loops = {mode: build_loop(model_name, Path(tmp) / mode, mode == "background")
                 for mode in ("inline", "background")}
        stalls: dict[str, list[float]] = {mode: [] for mode in loops}
        writes: dict[str, list[float]] = {mode: [] for mode in loops}
        for epoch in range(1, repeats + 2):
            for mode, (loop, checkpointing) in loops.items():
                stall, write = one_save(loop, checkpointing, epoch)
                if epoch > 1:  # the first save warms up the allocator and the thread
                    stalls[mode].append(stall)
                    writes[mode].append(write)
                time.sleep(pause)
        size = (Path(tmp) / "background" / "last.pt").stat().st_size
        for loop, checkpointing in loops.values():
            checkpointing.teardown(loop)
    params = sum(p.numel() for p in loops["inline"][0].model.parameters())
    for mode in ("inline", "background"):
        out[mode] = {"stall_s": median(stalls[mode]), "write_after_s": median(writes[mode]),
                     "stalls": stalls[mode]}
    out["checkpoint_bytes"] = size
    out["parameters"] = params
    out["stall_ratio"] = out["background"]["stall_s"] / out["inline"]["stall_s"]
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure every model; print a Markdown table on stderr, JSON on stdout."""
    args = _parser().parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    models = [m for m in args.models.split(",") if m]
    results = {name: measure(name, args.repeats, args.pause) for name in models}
    report = {"figure": "checkpoint_stall", "machine": machine(), "repeats": args.repeats,
              "threads": args.threads, "results": results}
    print("| model | checkpoint | inline stall | background stall | background write "
          "(after) | stall ratio |", file=sys.stderr)
    print("|---|---|---|---|---|---|", file=sys.stderr)
    for name, r in results.items():
        print(f"| {name} ({r['parameters']:,} params) | {r['checkpoint_bytes'] / 1e6:.1f} MB | "
              f"{r['inline']['stall_s'] * 1e3:.1f} ms | {r['background']['stall_s'] * 1e3:.1f} ms"
              f" | {r['background']['write_after_s'] * 1e3:.1f} ms | {r['stall_ratio']:.3f} |",
              file=sys.stderr)
    return emit(report, args.out)


def _parser() -> argparse.ArgumentParser:
    p = bench_parser(__doc__, repeats=10, threads=1, pause=0.2)
    p.add_argument("--models", default=",".join(MODELS))
    return p


if __name__ == "__main__":
    sys.exit(main())
