"""Figure 5 (CUDA only): trainui fit vs the plain and chapter loops on resnet18, bf16,
and a check that training steps between two throttle points never synchronise.

    bash bench/gpu.sh            # or: python bench/gpu_bench.py --epochs 4 --repeats 3

torch only (no textual). Without CUDA it prints why and exits 0. Data is synthetic
32x32 RGB, pre-cut into pinned CPU batches so the copy, not a DataLoader, feeds the GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from common import bench_parser, emit, machine, median

SYNC_WARNING = "synchroniz"  # torch: "called a synchronizing CUDA operation"


class PinnedBatches:
    """Fixed batches of a synthetic data set, visited in a seeded shuffled order per epoch."""

    def __init__(self, inputs: Any, targets: Any, batch_size: int, seed: int, *,
                 shuffle: bool = True, pin: bool = True) -> None:
        self.batches = [(x.pin_memory() if pin else x, y.pin_memory() if pin else y)
                        for x, y in zip(inputs.split(batch_size), targets.split(batch_size),
                                        strict=True)]
        self.shuffle = shuffle
        self._order = random.Random(seed)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[Any]:
        order = list(range(len(self.batches)))
        if self.shuffle:
            self._order.shuffle(order)
        return (self.batches[i] for i in order)


class SyncCheckedLoader:
    """Wraps a train loader: sync debug mode is on while a step runs, off between steps.

    A step runs from the moment its batch is handed out until the loop asks for the next
    one, so a throttle point (the loop reading metrics after a step) is inside it unless
    the loop's throttle interval is longer than the epoch. The first `skip` steps of each
    epoch (allocator and kernel warm-up) are not checked.
    """

    def __init__(self, loader: Any, set_mode: Callable[[str], None], skip: int = 2) -> None:
        self.loader, self.set_mode, self.skip = loader, set_mode, skip
        self.checked_steps = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[Any]:
        try:
            for index, batch in enumerate(self.loader):
                self.set_mode("default")
                if index >= self.skip:
                    self.checked_steps += 1
                    self.set_mode("warn")
                yield batch
        finally:
            self.set_mode("default")


@contextlib.contextmanager
def counting_sync_warnings() -> Iterator[list[str]]:
    """Collect the messages of torch's sync-debug warnings raised inside the block."""
    found: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield found
    found.extend(str(w.message) for w in caught if SYNC_WARNING in str(w.message))


def synthetic(samples: int, seed: int) -> tuple[Any, Any]:
    """Random 3x32x32 images and 10-class labels (speed only; nothing to learn)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(samples, 3, 32, 32, generator=generator),
            torch.randint(0, 10, (samples,), generator=generator))


def _setup(args: argparse.Namespace, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    import torch

    from trainui.core.models import build_model

    torch.manual_seed(seed)
    model = build_model("resnet18", (3, 32, 32), 10).cuda().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    train = PinnedBatches(*synthetic(args.samples, 1), args.batch_size, seed)
    val = PinnedBatches(*synthetic(args.samples // 5, 2), args.batch_size, seed, shuffle=False)
    return model, optimizer, train, val


def _autocast() -> Any:
    import torch

    return torch.autocast("cuda", dtype=torch.bfloat16)


def run_plain(args: argparse.Namespace, train: Any = None) -> dict[str, Any]:
    """The floor loop, bf16 autocast."""
    import torch
    from loops import plain_fit
    from torch import nn

    model, optimizer, default_train, val = _setup(args)
    return plain_fit(model, train or default_train, val, nn.CrossEntropyLoss(), optimizer,
                     torch.device("cuda"), args.epochs, _autocast)


def run_chapter(args: argparse.Namespace, train: Any = None) -> dict[str, Any]:
    """The chapter's loop, bf16 autocast, tqdm to /dev/null."""
    import tempfile

    import torch
    from loops import chapter_fit
    from torch import nn

    model, optimizer, default_train, val = _setup(args)
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as null, \
            contextlib.redirect_stderr(null), contextlib.redirect_stdout(null):
        return chapter_fit(model, train or default_train, val, nn.CrossEntropyLoss(), optimizer,
                           torch.device("cuda"), args.epochs, _autocast,
                           save_path=os.path.join(tmp, "best.pth"))


def run_fit(args: argparse.Namespace, train: Any = None,
            progress_interval: float = 0.25) -> dict[str, Any]:
    """trainui.core.fit, amp=bf16, no callbacks; epoch ends from EpochEnded."""
    from loops import EpochEnds
    from torch import nn

    from trainui.core import fit
    from trainui.core.events import EpochEnded

    model, optimizer, default_train, val = _setup(args)
    ends = EpochEnds()

    def sink(event: Any) -> None:
        if isinstance(event, EpochEnded):
            ends.mark()

    fit(model, train or default_train, val, nn.CrossEntropyLoss(), optimizer,
        epochs=args.epochs, device="cuda", amp="bf16", sinks=[sink],
        progress_interval=progress_interval)
    return ends.figures()


VARIANTS = {"plain": run_plain, "chapter": run_chapter, "fit": run_fit}


def steady(result: dict[str, Any], steps_per_epoch: int) -> float:
    """Steps/s over epochs 2..N from the (synchronised) epoch-end marks."""
    wall = result["epoch_end_wall"]
    if len(wall) < 2:
        return math.nan
    return steps_per_epoch * (len(wall) - 1) / (wall[-1] - wall[0])


def sync_check(args: argparse.Namespace) -> dict[str, Any]:
    """Syncs per checked step for each loop, throttle points kept out of the steps."""
    import torch

    out = {}
    for name, run in VARIANTS.items():
        one_epoch = argparse.Namespace(**{**vars(args), "epochs": 1})
        _, _, train, _ = _setup(one_epoch)
        checked = SyncCheckedLoader(train, torch.cuda.set_sync_debug_mode)
        with counting_sync_warnings() as found:
            if name == "fit":
                run_fit(one_epoch, checked, progress_interval=1e9)
            else:
                run(one_epoch, checked)
        out[name] = {"checked_steps": checked.checked_steps, "syncs": len(found),
                     "syncs_per_step": len(found) / max(1, checked.checked_steps),
                     "first": found[:1]}
    return out


def main(argv: list[str] | None = None) -> int:
    """Time the three loops interleaved, then run the sync check."""
    args = _parser().parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not torch.cuda.is_available():
        print("gpu bench: no CUDA device here; nothing measured.", file=sys.stderr)
        return emit({"figure": "gpu", "skipped": "no CUDA device", "machine": machine()}, args.out)
    torch.backends.cudnn.benchmark = True
    steps = math.ceil(args.samples / args.batch_size)
    runs: dict[str, list[float]] = {name: [] for name in VARIANTS}
    started = time.perf_counter()
    for _ in range(args.repeats):
        for name, run in VARIANTS.items():
            runs[name].append(steady(run(args), steps))
    summary = {name: {"steady_steps_per_s": median(v), "runs": v,
                      "ratio_to_plain": median(v) / median(runs["plain"])}
               for name, v in runs.items()}
    report = {"figure": "gpu", "machine": {**machine(), "gpu": torch.cuda.get_device_name()},
              "epochs": args.epochs, "repeats": args.repeats, "samples": args.samples,
              "batch_size": args.batch_size, "summary": summary,
              "sync_check": sync_check(args), "seconds": time.perf_counter() - started}
    for name, entry in summary.items():
        print(f"{name:8s} {entry['steady_steps_per_s']:8.1f} steps/s "
              f"{entry['ratio_to_plain']:.3f}x  syncs/step "
              f"{report['sync_check'][name]['syncs_per_step']:.2f}", file=sys.stderr)
    return emit(report, args.out)


def _parser() -> argparse.ArgumentParser:
    return bench_parser(__doc__, epochs=4, repeats=3, samples=25_600, batch_size=256)


if __name__ == "__main__":
    sys.exit(main())
