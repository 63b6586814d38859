"""Smoke tests for bench/: each script runs on a tiny size and reports the expected shape.

No timings are asserted: these only keep the bench scripts from rotting.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parent.parent / "bench"
RATES = ("train_steps_per_s", "epoch_steps_per_s", "steady_steps_per_s",
         "steady_cpu_steps_per_s")


def run_bench(tmp_path: Path, script: str, *args: str, timeout: float = 120) -> dict[str, Any]:
    """Run a bench script with --out; return the JSON it wrote."""
    out = tmp_path / f"{script}.json"
    proc = subprocess.run([sys.executable, str(BENCH / script), *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report: dict[str, Any] = json.loads(out.read_text())
    assert {"figure", "machine"} <= report.keys()
    assert {"date", "cpu", "cores", "load_average"} <= report["machine"].keys()
    return report


def tui_can_start() -> bool:
    """The TUI app imports (it is the pty variants' precondition)."""
    try:
        import trainui.tui.app  # noqa: F401
    except Exception:
        return False
    return True


def test_loop_overhead_variants(tmp_path: Path) -> None:
    """Every variant runs two epochs in its own process and reports each rate, in one
    bench run: the headless ones, and (where a TUI can start) the live TUI in a pty, which
    quits on q and reports its bytes and steps/s."""
    variants = ["plain", "fit", "cli"]
    variants += [name for name, package in (("chapter", "tqdm"), ("lightning", "lightning"))
                 if importlib.util.find_spec(package) is not None]
    if tui_can_start():
        variants.append("tui")
    report = run_bench(tmp_path, "loop_overhead.py", "--repeats", "1", "--epochs", "2",
                       "--variants", ",".join(variants))
    assert list(report["summary"]) == variants
    for run in report["runs"]:
        assert "error" not in run, run.get("error")
        assert {"variant", "steps", "load_before", "train_seconds", *RATES} <= run.keys()
        assert run["steps"] > 0
    for entry in report["summary"].values():
        assert entry["ok_runs"] == 1
        assert {"train_ratio", "steady_ratio", "load_1min"} <= entry.keys()
    assert report["summary"]["plain"]["train_ratio"] == 1.0
    if "tui" in variants:
        run = next(r for r in report["runs"] if r["variant"] == "tui")
        assert run["pty"]["first_frame"] is not None
        assert {"training_bytes_per_s", "run_bytes_per_s", "total_bytes"} <= run["terminal"].keys()
        assert run["train_steps_per_s"] > 0


def test_event_handling_times_both_designs(tmp_path: Path) -> None:
    """Each design's run reports the training thread's time in emit for every epoch."""
    report = run_bench(tmp_path, "event_handling.py", "--repeats", "1", "--epochs", "2")
    assert set(report["summary"]) == {"queued", "inline"}
    for runs in report["runs"].values():
        assert len(runs[0]["per_epoch_ms"]) == 2
        assert all(ms > 0 for ms in runs[0]["per_epoch_ms"])


def test_checkpoint_blocks_alternate_the_writer(tmp_path: Path) -> None:
    """Blocks of one epoch: both designs get epochs, and a ratio is reported."""
    report = run_bench(tmp_path, "checkpoint_blocks.py", "--runs", "1", "--epochs", "6",
                       "--block", "1")
    run = report["runs"][0]
    assert len(run["background"]) == 1 and len(run["inline"]) == 1  # 3 each, 2 dropped
    assert report["ratio_of_means"] > 0


def test_long_run_history_and_charts(tmp_path: Path) -> None:
    """History (and the charts, unless marked pending) report memory and redraw per checkpoint."""
    report = run_bench(tmp_path, "long_run.py", "--checkpoints", "500,3000")
    assert [row["steps"] for row in report["history"]] == [500, 3000]
    assert {"retained_bytes", "stored_points", "points_seconds"} <= report["history"][0].keys()
    charts = report["charts"]
    if "pending" not in charts:
        assert [row["steps"] for row in charts["rows"]] == [500, 3000]
        assert {"retained_bytes", "loss_redraw_seconds"} <= charts["rows"][0].keys()


def test_startup(tmp_path: Path) -> None:
    """`trainui --help` is timed, and the first frame too when the TUI can start."""
    args = ["--repeats", "1"] + ([] if tui_can_start() else ["--no-tui"])
    report = run_bench(tmp_path, "startup.py", *args)
    assert report["help_seconds"] > 0
    if tui_can_start():
        assert report["first_frame_seconds"] > 0


def test_gpu_bench_without_cuda_exits_cleanly(tmp_path: Path) -> None:
    """On a machine without CUDA the GPU bench says so and exits 0."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: run bench/gpu.sh instead")
    report = run_bench(tmp_path, "gpu_bench.py")
    assert report["skipped"] == "no CUDA device"


def test_gpu_bench_runs_every_part_as_a_cpu_dry_run(tmp_path: Path) -> None:
    """Every timed loop and every sync-check path (fit, trainui train, trainui.init) runs,
    on the CPU at a tiny size, so the GPU script is known to work before a GPU runs it."""
    report = run_bench(tmp_path, "gpu_bench.py", "--cpu-dry-run", "--samples", "128",
                       "--batch-size", "32", "--epochs", "2", "--repeats", "1", "--model", "cnn",
                       "--variants", "plain,fit", timeout=300)
    assert set(report["summary"]) == {"plain", "fit"}
    assert report["summary"]["plain"]["ratio_to_plain"] == 1.0
    for name in ("fit", "train", "api", "chapter"):  # no sync on the CPU: the control too
        check = report["sync_check"][name]
        assert check["ok"], check
        assert check["checked_steps"] == 2  # 4 batches an epoch, the first 2 not checked


def test_sync_checked_loader_turns_debug_on_only_inside_steps() -> None:
    """Sync debug mode is on from a handed-out batch until the next is asked for."""
    sys.path.insert(0, str(BENCH))
    try:
        from gpu_bench import SyncCheckedLoader
    finally:
        sys.path.remove(str(BENCH))
    modes: list[str] = []
    loader = SyncCheckedLoader([1, 2, 3, 4], modes.append, skip=1, mode="warn")
    seen = []
    for batch in loader:
        seen.append((batch, modes[-1]))
    assert seen == [(1, "default"), (2, "warn"), (3, "warn"), (4, "warn")]
    assert modes[-1] == "default"
    assert loader.checked_steps == 3
    assert len(loader) == 4


def test_pinned_batches_shuffle_whole_batches_reproducibly() -> None:
    """The GPU bench's data: fixed batches, a seeded order per epoch, nothing lost."""
    import torch

    sys.path.insert(0, str(BENCH))
    try:
        from gpu_bench import PinnedBatches
    finally:
        sys.path.remove(str(BENCH))
    inputs, targets = torch.arange(10.0).reshape(10, 1), torch.arange(10)
    first = PinnedBatches(inputs, targets, 4, seed=3, pin=False)
    second = PinnedBatches(inputs, targets, 4, seed=3, pin=False)
    assert len(first) == 3
    epoch = [y.tolist() for _, y in first]
    assert epoch == [y.tolist() for _, y in second]
    assert sorted(v for batch in epoch for v in batch) == list(range(10))


def test_attach(tmp_path: Path) -> None:
    """A short long run is built as a trainer writes it; runs and watch are timed."""
    report = run_bench(tmp_path, "attach.py", "--hours", "0.05", "--epochs", "5",
                       "--repeats", "1", "--tmp", str(tmp_path))
    assert report["events_lines"] > 0 and report["summary_bytes"] > 0
    assert report["summary"]["runs_seconds"] > 0 and report["summary"]["watch_seconds"] > 0
    assert report["no_summary"]["runs_first_seconds"] > 0
