"""Figure 5 (CUDA only): trainui vs a bare loop on ResNet-18 at CIFAR size, bf16, with and
without torch.compile, and a check that no training step synchronises with the host.

    bash bench/gpu.sh            # or: python bench/gpu_bench.py --epochs 4 --repeats 3

Timed, interleaved: the plain loop, the chapter's loop, `trainui.core.fit`, and the plain
loop and fit with torch.compile (steady steps/s: epochs 2..N, so compiling is not counted).

Sync check: `torch.cuda.set_sync_debug_mode("error")` is on from each training batch handed
out until the next is asked for (throttle points pushed past the epoch), in `fit`, in
`trainui train` (run_training with checkpoints, early stopping and a scheduler) and in a
loop of your own using `trainui.init` / `run.log`. A synchronising call there raises,
and the report names it.

torch only (no textual). Without CUDA it prints why and exits 0; `--cpu-dry-run` runs every
part on the CPU at a tiny size (no timings worth reading, no sync check; `--model cnn` for
speed) so the script can be checked on a machine without a GPU. Data is synthetic 32x32
RGB, pre-cut into pinned CPU batches so the copy, not a DataLoader, feeds the GPU
(run_training uses its own DataLoader, pinned).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import time
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
    one (fetching that batch is not part of it), so a throttle point (the loop reading
    metrics after a step) is inside it unless the loop's throttle interval is longer than
    the epoch. The first `skip` steps of each epoch (allocator and kernel warm-up) are not
    checked.
    """

    def __init__(self, loader: Any, set_mode: Callable[[str], None], skip: int = 2,
                 mode: str = "error") -> None:
        self.loader, self.set_mode, self.skip, self.mode = loader, set_mode, skip, mode
        self.checked_steps = 0

    def __len__(self) -> int:
        return len(self.loader)

    def __getattr__(self, name: str) -> Any:  # batch_size, dataset...: the loader's own
        return getattr(self.loader, name)

    def __iter__(self) -> Iterator[Any]:
        batches = iter(self.loader)
        index = 0
        try:
            while True:
                self.set_mode("default")
                try:
                    batch = next(batches)
                except StopIteration:
                    return
                if index >= self.skip:
                    self.checked_steps += 1
                    self.set_mode(self.mode)
                index += 1
                yield batch
        finally:
            self.set_mode("default")


def synthetic(samples: int, seed: int) -> tuple[Any, Any]:
    """Random 3x32x32 images and 10-class labels (speed only; nothing to learn)."""
    import torch

    generator = torch.Generator().manual_seed(seed)
    return (torch.randn(samples, 3, 32, 32, generator=generator),
            torch.randint(0, 10, (samples,), generator=generator))


def synthetic_splits(data_dir: Any, seed: int) -> tuple[Any, Any, Any]:
    """A trainui data set factory (`gpu_bench:synthetic_splits`) for run_training:
    CIFAR-sized synthetic train/val/test splits of the size the bench was asked for."""
    from torch.utils.data import TensorDataset

    samples = int(os.environ.get("GPU_BENCH_SAMPLES", "2048"))
    return (TensorDataset(*synthetic(samples, 1)), TensorDataset(*synthetic(samples // 5, 2)),
            TensorDataset(*synthetic(samples // 5, 3)))


def _device(args: argparse.Namespace) -> str:
    return "cpu" if args.cpu_dry_run else "cuda"


def _setup(args: argparse.Namespace, seed: int = 0) -> tuple[Any, Any, Any, Any]:
    import torch

    from trainui.core.models import build_model

    torch.manual_seed(seed)
    model = build_model(args.model, (3, 32, 32), 10).to(_device(args))
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    pin = not args.cpu_dry_run
    train = PinnedBatches(*synthetic(args.samples, 1), args.batch_size, seed, pin=pin)
    val = PinnedBatches(*synthetic(args.samples // 5, 2), args.batch_size, seed, shuffle=False,
                        pin=pin)
    return model, optimizer, train, val


def _autocast(args: argparse.Namespace) -> Any:
    import torch

    return lambda: torch.autocast(_device(args), dtype=torch.bfloat16)


def _sync(args: argparse.Namespace) -> Callable[[], None]:
    import torch

    return (lambda: None) if args.cpu_dry_run else torch.cuda.synchronize


def run_plain(args: argparse.Namespace, train: Any = None, *,
              compile_model: bool = False) -> dict[str, Any]:
    """The floor loop, bf16 autocast (forward and backward through torch.compile with
    `compile_model`)."""
    import torch
    from loops import plain_fit
    from torch import nn

    model, optimizer, default_train, val = _setup(args)
    runner = torch.compile(model) if compile_model else model
    return plain_fit(runner, train or default_train, val, nn.CrossEntropyLoss(), optimizer,
                     torch.device(_device(args)), args.epochs, _autocast(args),
                     sync=_sync(args))


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
                           torch.device(_device(args)), args.epochs, _autocast(args),
                           save_path=os.path.join(tmp, "best.pth"))


def run_fit(args: argparse.Namespace, train: Any = None, progress_interval: float = 0.25, *,
            compile_model: bool = False) -> dict[str, Any]:
    """trainui.core.fit, amp=bf16, no callbacks; epoch ends from EpochEnded."""
    from loops import EpochEnds
    from torch import nn

    from trainui.core import fit
    from trainui.core.events import EpochEnded

    model, optimizer, default_train, val = _setup(args)
    ends = EpochEnds()
    sync = _sync(args)

    def sink(event: Any) -> None:
        if isinstance(event, EpochEnded):
            sync()
            ends.mark()

    fit(model, train or default_train, val, nn.CrossEntropyLoss(), optimizer,
        epochs=args.epochs, device=_device(args), amp="bf16", sinks=[sink],
        progress_interval=progress_interval, compile_model=compile_model)
    return ends.figures()


VARIANTS: dict[str, Callable[..., dict[str, Any]]] = {
    "plain": run_plain, "chapter": run_chapter, "fit": run_fit,
    "plain-compile": lambda args: run_plain(args, compile_model=True),
    "fit-compile": lambda args: run_fit(args, compile_model=True),
}
COMPILED_BASELINE = {"fit-compile": "plain-compile"}


def steady(result: dict[str, Any], steps_per_epoch: int) -> float:
    """Steps/s over epochs 2..N from the (synchronised) epoch-end marks."""
    wall = result["epoch_end_wall"]
    if len(wall) < 2:
        return math.nan
    return steps_per_epoch * (len(wall) - 1) / (wall[-1] - wall[0])


def check_fit(args: argparse.Namespace, wrap: Callable[[Any], Any]) -> None:
    """One epoch of `trainui.core.fit` on checked batches."""
    _, _, train, _ = _setup(args)
    run_fit(args, wrap(train), progress_interval=1e9)


def check_train(args: argparse.Namespace, wrap: Callable[[Any], Any]) -> None:
    """One epoch of `trainui train` (run_training: checkpoints, early stopping, onecycle
    stepped every step, events.jsonl), its training loader checked."""
    import tempfile

    from trainui.core import job
    from trainui.core.config import RunConfig

    real = job.make_loaders

    def checked_loaders(*a: Any, **k: Any) -> Any:
        train, val, test = real(*a, **k)
        return wrap(train), val, test

    os.environ["GPU_BENCH_SAMPLES"] = str(args.samples)
    job.make_loaders = checked_loaders  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = RunConfig(dataset="gpu_bench:synthetic_splits", model=args.model, epochs=1,
                               batch_size=args.batch_size, amp="bf16", scheduler="onecycle",
                               device=_device(args), run_dir=os.path.join(tmp, "run"),
                               progress_interval=1e9, channels_last=True)
            job.run_training(config)
    finally:
        job.make_loaders = real  # type: ignore[assignment]


def check_api(args: argparse.Namespace, wrap: Callable[[Any], Any]) -> None:
    """One epoch of a loop of your own with `trainui.init`, `run.log` every step."""
    import tempfile

    import torch
    from torch import nn

    import trainui

    model, optimizer, train, val = _setup(args)
    criterion, autocast = nn.CrossEntropyLoss(), _autocast(args)
    device = torch.device(_device(args))
    with tempfile.TemporaryDirectory() as tmp:
        run = trainui.init(run_dir=os.path.join(tmp, "run"), epochs=1,
                           steps_per_epoch=len(train), model=model,
                           batch_size=args.batch_size, handle_signals=False,
                           progress_interval=1e9)
        model.train()
        for inputs, targets in wrap(train):
            inputs = inputs.to(device, non_blocking=True)
            targets = targets.to(device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            with autocast():
                outputs = model(inputs)
                loss = criterion(outputs, targets)
            loss.backward()
            optimizer.step()
            run.log({"loss": loss, "acc": (outputs.argmax(1) == targets).float().mean(),
                     "lr": optimizer.param_groups[0]["lr"]})
        run.end_epoch()
        run.finish()


def check_chapter(args: argparse.Namespace, wrap: Callable[[Any], Any]) -> None:
    """The positive control: the chapter's loop calls `.item()` every step, so on a GPU its
    check must fail (if it passes, the check itself is broken)."""
    _, _, train, _ = _setup(args)
    run_chapter(args, wrap(train))


CHECKS = {"fit": check_fit, "train": check_train, "api": check_api, "chapter": check_chapter}
CONTROLS = ("chapter",)
"""Checks expected to find a sync (on CUDA)."""


def sync_check(args: argparse.Namespace) -> dict[str, Any]:
    """Each trainui path's training steps under sync debug mode "error": the steps
    checked, and the first synchronising call if one raised."""
    import torch

    set_mode: Callable[[str], None] = (
        (lambda mode: None) if args.cpu_dry_run else torch.cuda.set_sync_debug_mode)
    out: dict[str, Any] = {}
    for name, check in CHECKS.items():
        one_epoch = argparse.Namespace(**{**vars(args), "epochs": 1})
        loaders: list[SyncCheckedLoader] = []

        def wrap(loader: Any, found: list[SyncCheckedLoader] = loaders) -> SyncCheckedLoader:
            checked = SyncCheckedLoader(loader, set_mode)
            found.append(checked)
            return checked

        error = None
        try:
            check(one_epoch, wrap)
        except Exception as exc:  # a synchronising call raised (or the path failed)
            error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        finally:
            set_mode("default")
        steps = sum(loader.checked_steps for loader in loaders)
        found_sync = error is not None and SYNC_WARNING in error
        expected = name in CONTROLS and not args.cpu_dry_run
        out[name] = {"checked_steps": steps, "error": error, "expects_sync": expected,
                     "ok": steps > 0 and (found_sync if expected else error is None)}
    return out


def main(argv: list[str] | None = None) -> int:
    """Time the loops interleaved, then run the sync check."""
    args = _parser().parse_args(argv)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is None or not (args.cpu_dry_run or torch.cuda.is_available()):
        print("gpu bench: no CUDA device here; nothing measured.", file=sys.stderr)
        return emit({"figure": "gpu", "skipped": "no CUDA device", "machine": machine()}, args.out)
    if not args.cpu_dry_run:
        torch.backends.cudnn.benchmark = True
    variants = [v for v in args.variants.split(",") if v]
    steps = math.ceil(args.samples / args.batch_size)
    runs: dict[str, list[float]] = {name: [] for name in variants}
    started = time.perf_counter()
    for _ in range(args.repeats):
        for name in variants:
            runs[name].append(steady(VARIANTS[name](args), steps))
    summary = {}
    for name, values in runs.items():
        entry = {"steady_steps_per_s": median(values), "runs": values,
                 "ratio_to_plain": median(values) / median(runs["plain"])}
        base = COMPILED_BASELINE.get(name)
        if base in runs:
            entry[f"ratio_to_{base}"] = median(values) / median(runs[base])
        summary[name] = entry
    gpu = "cpu (dry run)" if args.cpu_dry_run else torch.cuda.get_device_name()
    report = {"figure": "gpu", "machine": {**machine(), "gpu": gpu},
              "epochs": args.epochs, "repeats": args.repeats, "samples": args.samples,
              "batch_size": args.batch_size, "summary": summary,
              "sync_check": sync_check(args), "seconds": time.perf_counter() - started}
    print_report(report)
    return emit(report, args.out)


def print_report(report: dict[str, Any]) -> None:
    """Rates, ratios and sync-check verdicts, one line each, on stderr."""
    for name, entry in report["summary"].items():
        ratios = "  ".join(f"{key.removeprefix('ratio_to_')} {value:.3f}x"
                           for key, value in entry.items() if key.startswith("ratio_to_"))
        print(f"{name:14s} {entry['steady_steps_per_s']:8.1f} steps/s  vs {ratios}",
              file=sys.stderr)
    for name, result in report["sync_check"].items():
        if result["expects_sync"]:
            verdict = ("sync found, as expected (control)" if result["ok"]
                       else f"CONTROL FAILED: {result['error']}")
        else:
            verdict = "no sync" if result["ok"] else f"FAILED: {result['error']}"
        print(f"sync check {name:6s} {result['checked_steps']:5d} steps  {verdict}",
              file=sys.stderr)


def _parser() -> argparse.ArgumentParser:
    p = bench_parser(__doc__, epochs=4, repeats=3, samples=25_600, batch_size=256,
                     model="resnet18")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--cpu-dry-run", action="store_true",
                   help="run every part on the CPU at the given size (checks the script)")
    return p


if __name__ == "__main__":
    sys.exit(main())
