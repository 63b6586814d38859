"""Two ranks on gloo: `trainui train --nproc-per-node 2` against a hand-written DDP loop.

Both are jobs of two processes started by torchrun (`torch.distributed.run --standalone`),
on the same work: the digits data set, trainui's default CNN in DistributedDataParallel,
batch 64 a rank, Adam 1e-3, a DistributedSampler seeded 42, validation on each rank's half
of the split summed over the ranks after every epoch. The plain loop reads its loss once
an epoch (the floor); trainui's run does everything it always does (progress a few times
a second, checkpoints, early stopping bookkeeping, events.jsonl). Each measures the job's
training samples per second of every epoch (validation not counted); the figure is the
median over epochs 2..N, and the ratio the median of per-repeat ratios over interleaved
repeats.

    python bench/ddp_overhead.py --repeats 3 --epochs 10 --out bench/results/ddp_overhead.json

`--device cuda` measures the one-GPU NCCL path instead: jobs of one process (world size
1) on NCCL, trainui started as `torchrun ... -m trainui train` (bench/gpu.sh runs it).
With `--worker`, this file is the plain loop's rank (torchrun runs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    BATCH_SIZE,
    LR,
    SEED,
    bench_parser,
    child_env,
    emit,
    load_average,
    machine,
    median,
    python,
    trainui_command,
)

VARIANTS = ("plain", "trainui")


def ranks(device: str) -> int:
    """Two CPU processes (gloo), or one GPU process (NCCL)."""
    return 1 if device == "cuda" else 2


def plain_rank(epochs: int, device_name: str) -> None:
    """One rank of the hand-written DDP loop; rank 0 prints each epoch's samples/s."""
    import torch
    import torch.distributed as dist
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DataLoader, DistributedSampler

    from trainui.core.data import ShardSampler, load_dataset
    from trainui.core.models import build_model

    cuda = device_name == "cuda"
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, size = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    torch.manual_seed(SEED)
    data = load_dataset("digits", None)
    model = build_model("cnn", data.input_shape, data.num_classes).to(device)
    torch.manual_seed(SEED + rank)  # as trainui: the same weights, each rank its own dropout
    ddp = DistributedDataParallel(model, device_ids=[rank] if cuda else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=LR)
    criterion = nn.CrossEntropyLoss()
    sampler: DistributedSampler[Any] = DistributedSampler(data.train, size, rank, seed=SEED)
    train = DataLoader(data.train, batch_size=BATCH_SIZE, sampler=sampler)
    val = DataLoader(data.val, batch_size=BATCH_SIZE,
                     sampler=ShardSampler(len(data.val), rank, size))  # type: ignore[arg-type]
    rates = []
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        started = time.perf_counter()
        ddp.train()
        loss_sum = torch.zeros((), device=device)
        for inputs, targets in train:
            inputs, targets = inputs.to(device, non_blocking=True), targets.to(device)
            optimizer.zero_grad(set_to_none=True)
            loss = criterion(ddp(inputs), targets)
            loss.backward()
            optimizer.step()
            loss_sum += loss.detach()
        dist.all_reduce(loss_sum)  # the epoch's one read
        float(loss_sum)
        rates.append(len(sampler) * size / (time.perf_counter() - started))
        model.eval()
        correct = torch.zeros(2, device=device)
        with torch.no_grad():
            for inputs, targets in val:
                right = (model(inputs.to(device)).argmax(1) == targets.to(device)).sum()
                correct += torch.stack((right.float(), torch.tensor(float(len(targets)),
                                                                     device=device)))
        dist.all_reduce(correct)
    if rank == 0:
        print(json.dumps({"samples_per_second": rates, "val_acc": float(correct[0] / correct[1])}))
    dist.destroy_process_group()


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def torchrun(device: str, args: list[str]) -> list[str]:
    return [python(), "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node", str(ranks(device)), *args]


def run_plain(epochs: int, device: str) -> dict[str, Any]:
    done = subprocess.run(
        torchrun(device, [__file__, "--worker", "--epochs", str(epochs), "--device", device]),
        capture_output=True, text=True, env=child_env(1), check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_trainui(epochs: int, device: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / "run"
        train = ["train", "--headless", "--device", device, "--epochs", str(epochs),
                 "--patience", str(epochs), "--scheduler", "none", "--run-dir", str(run_dir)]
        command = ([*trainui_command(), *train, "--nproc-per-node", str(ranks(device))]
                   if device == "cpu" else torchrun(device, ["-m", "trainui", *train]))
        subprocess.run(command, capture_output=True, text=True, env=child_env(1), check=True)
        lines = (run_dir / "events.jsonl").read_text().splitlines()
        events = [json.loads(line) for line in lines]
    ends = [e for e in events if e["kind"] == "epoch_ended"]
    started = next(e for e in events if e["kind"] == "run_started")
    finished = next(e for e in events if e["kind"] == "finished")
    return {"samples_per_second": [e["samples_per_second"] for e in ends],
            "val_acc": ends[-1]["val_acc"], "world_size": started["world_size"],
            "device": started["device"], "test_samples": finished["metrics"]["samples"]}


def main() -> int:
    parser = bench_parser(__doc__, repeats=3, epochs=10, worker=False, device="cpu")
    args = parser.parse_args()
    if args.worker:
        plain_rank(args.epochs, args.device)
        return 0
    if args.device == "cuda" and not _has_cuda():
        print("ddp_overhead: no CUDA device here: nothing measured", file=sys.stderr)
        return 0
    runners = {"plain": run_plain, "trainui": run_trainui}
    repeats: list[dict[str, Any]] = []
    for index in range(args.repeats):
        repeat: dict[str, Any] = {}
        for name in VARIANTS:  # interleaved
            load = load_average()[0]
            result = runners[name](args.epochs, args.device)
            result["steady"] = median(result["samples_per_second"][1:])
            result["load"] = load
            repeat[name] = result
            print(f"repeat {index + 1} {name}: {result['steady']:.0f} samples/s "
                  f"(val acc {result['val_acc']:.4f}, load {load})", file=sys.stderr)
        repeats.append(repeat)
    summary = {name: median([r[name]["steady"] for r in repeats]) for name in VARIANTS}
    ratio = median([r["trainui"]["steady"] / r["plain"]["steady"] for r in repeats])
    size = ranks(args.device)
    print(f"\n| variant | steady samples/s ({size} x {args.device}) | ratio |\n|---|---|---|\n"
          f"| plain DDP loop | {summary['plain']:.0f} | 1.000x |\n"
          f"| trainui on torchrun | {summary['trainui']:.0f} | {ratio:.3f}x |", file=sys.stderr)
    return emit({"machine": machine(), "device": args.device, "epochs": args.epochs,
                 "ranks": size,
                 "repeats": repeats, "steady_samples_per_second": summary,
                 "ratio": ratio}, args.out)


if __name__ == "__main__":
    sys.exit(main())
