"""Figures 1 and 2: loop overhead against a plain loop, and the TUI's terminal bandwidth.

    python bench/loop_overhead.py                 # 5 interleaved repeats, 10 epochs each
    python bench/loop_overhead.py --repeats 1 --epochs 2 --variants plain,fit

Each run is a fresh process; variants are interleaved (A B C ... A B C ...) so slow drift in
machine load hits them all alike. Ratios are medians of per-repeat ratios to `plain`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (
    BATCH_SIZE,
    BENCH_DIR,
    bench_parser,
    child_env,
    emit,
    load_average,
    machine,
    median,
    python,
    trainui_command,
)

ALL_VARIANTS = ("plain", "plain-log", "chapter", "fit", "cli", "cli-inline", "cli-compile", "tui",
                "tui-80x24", "lightning", "lightning-quiet", "lightning-trainui")
TUI_SIZES = {"tui": (120, 40), "tui-80x24": (80, 24)}
NEEDS = {"lightning": "lightning", "lightning-quiet": "lightning",
         "lightning-trainui": "lightning", "chapter": "tqdm"}  # optional packages
BASELINES = {"lightning-trainui": "lightning-quiet", "cli": "cli-inline"}
"""Variants also compared with another than `plain` (ratios `vs_<baseline>`)."""
RATES = ("train_steps_per_s", "epoch_steps_per_s", "steady_steps_per_s",
         "steady_cpu_steps_per_s", "wall_steps_per_s")
LABELS = {
    "plain": "plain loop (floor: device read once per epoch)",
    "chapter": "chapter loop (.item() x2 per step, tqdm)",
    "fit": "trainui headless, Python API fit()",
    "cli": "trainui headless, CLI-equivalent run_training()",
    "cli-inline": "the same, checkpoints written on the training thread",
    "cli-compile": "the same as cli, --compile",
    "tui": "trainui live TUI, pty 120x40",
    "tui-80x24": "trainui live TUI, pty 80x24",
    "lightning": "Lightning Trainer, default progress bar",
    "plain-log": "plain loop + trainui.init, run.log every step",
    "lightning-quiet": "Lightning Trainer, no progress bar",
    "lightning-trainui": "Lightning Trainer, no progress bar, trainui's callback",
}


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; run as the orchestrator, or as one measured child."""
    args = _parser().parse_args(argv)
    if args.child:
        from overhead_variants import run_variant

        return emit(run_variant(args.child, args.epochs, args.threads), args.out)
    variants = [v for v in args.variants.split(",") if v]
    for variant, package in NEEDS.items():
        if variant in variants and importlib.util.find_spec(package) is None:
            print(f"{package} is not installed: skipping {variant}", file=sys.stderr)
            variants.remove(variant)
    runs = measure(variants, args.repeats, args.epochs, args.threads)
    report = {"figure": "loop_overhead", "machine": machine(), "epochs": args.epochs,
              "repeats": args.repeats, "threads": args.threads, "batch_size": BATCH_SIZE,
              "summary": summarise(runs, variants), "runs": runs}
    print(table(report), file=sys.stderr)
    return emit(report, args.out)


def _parser() -> argparse.ArgumentParser:
    p = bench_parser(__doc__)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=1,
                   help="torch intra-op threads for every variant (OMP_NUM_THREADS too)")
    p.add_argument("--variants", default=",".join(ALL_VARIANTS))
    p.add_argument("--child", choices=[v for v in ALL_VARIANTS if v not in TUI_SIZES],
                   help=argparse.SUPPRESS)
    return p


def measure(variants: list[str], repeats: int, epochs: int, threads: int) -> list[dict[str, Any]]:
    """Every variant once per repeat, interleaved, each in a fresh process."""
    runs = []
    for repeat in range(repeats):
        for variant in variants:
            load_before = load_average()
            if variant in TUI_SIZES:
                result = run_tui_variant(variant, epochs, threads)
            else:
                result = run_child(variant, epochs, threads)
            result.update(repeat=repeat, load_before=load_before)
            runs.append(result)
            print(f"[{repeat + 1}/{repeats}] {variant:10s} "
                  f"train {result.get('train_steps_per_s', math.nan):7.1f} steps/s  "
                  f"steady {result.get('steady_steps_per_s', math.nan):7.1f}  "
                  f"load {load_before[0]:.2f}", file=sys.stderr)
    return runs


def run_child(variant: str, epochs: int, threads: int) -> dict[str, Any]:
    """One variant in a fresh interpreter; tqdm and console output go to a drained pipe."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run(
            [python(), str(BENCH_DIR / "loop_overhead.py"), "--child", variant,
             "--epochs", str(epochs), "--threads", str(threads), "--out", str(out)],
            capture_output=True, env=child_env(threads), check=False,
        )
        if proc.returncode != 0 or not out.exists():
            return {"variant": variant, "error": proc.stderr.decode(errors="replace")[-2000:]}
        result: dict[str, Any] = json.loads(out.read_text())
        result["stderr_bytes"] = len(proc.stderr)
        return result


def run_tui_variant(variant: str, epochs: int, threads: int) -> dict[str, Any]:
    """`trainui` with its TUI in a pty; steps/s from history.csv, bytes from the pty."""
    from overhead_variants import steady_rates
    from overhead_variants import summarise as summarise_run
    from pty_run import run_tui

    columns, lines = TUI_SIZES[variant]
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        argv = [*trainui_command(), "--epochs", str(epochs), "--run-dir", str(run_dir),
                "--scheduler", "none", "--patience", str(epochs), "--device", "cpu"]
        seen = run_tui(argv, run_dir, columns, lines, child_env(threads),
                       timeout=120 + 30 * epochs)
        rows = _history_rows(run_dir / "history.csv")
    if len(rows) < epochs or seen.exit_code != 0:
        return {"variant": variant, "error": f"TUI run incomplete: {len(rows)}/{epochs} epochs, "
                f"exit {seen.exit_code}, timed out {seen.timed_out}", "pty": seen.to_dict()}
    train_size = _digits_train_size()
    steps = epochs * math.ceil(train_size / BATCH_SIZE)
    marks = [seen.epochs[n] for n in sorted(seen.epochs)]
    result = {
        "train_seconds": [train_size / r["samples_per_second"] for r in rows],
        "epoch_seconds": [r["epoch_time"] for r in rows],
        "epoch_end_wall": [m.seconds for m in marks], "epoch_end_cpu": [m.cpu for m in marks],
        "val_acc": rows[-1]["val_acc"], "steps": steps,
    }
    out = summarise_run(variant, result, threads)
    out.update(steady_rates(result, steps) if len(marks) == epochs else
               {"steady_steps_per_s": math.nan, "steady_cpu_steps_per_s": math.nan})
    out["terminal"] = bandwidth(seen, marks)
    out["pty"] = seen.to_dict()
    return out


def bandwidth(seen: Any, marks: list[Any]) -> dict[str, Any]:
    """Bytes/s while training (first epoch end -> last epoch end) and over the whole run."""
    out: dict[str, Any] = {"columns": seen.columns, "lines": seen.lines,
                           "total_bytes": seen.total_bytes}
    if len(marks) >= 2:
        first, last = marks[0], marks[-1]
        out["training_bytes_per_s"] = (last.bytes - first.bytes) / (last.seconds - first.seconds)
    if seen.started and seen.finished:
        out["run_bytes_per_s"] = ((seen.finished.bytes - seen.started.bytes)
                                  / (seen.finished.seconds - seen.started.seconds))
    out["bytes_by_row"] = dict(sorted(seen.bytes_by_row.items()))
    return out


def _history_rows(path: Path) -> list[dict[str, float]]:
    if not path.exists():
        return []
    header, *lines = path.read_text().strip().splitlines()
    keys = header.split(",")
    return [dict(zip(keys, map(float, line.split(",")), strict=True)) for line in lines]


def _digits_train_size() -> int:
    from overhead_variants import _digits_train_size as size

    return size()


def summarise(runs: list[dict[str, Any]], variants: list[str]) -> dict[str, Any]:
    """Per variant: median rates, median paired ratios to plain, load averages seen."""
    plain = {r["repeat"]: r for r in runs if r["variant"] == "plain" and "error" not in r}
    summary = {}
    for variant in variants:
        mine = [r for r in runs if r["variant"] == variant and "error" not in r]
        entry: dict[str, Any] = {"label": LABELS[variant], "ok_runs": len(mine),
                                 "errors": [r["error"] for r in runs
                                            if r["variant"] == variant and "error" in r]}
        for rate in RATES:
            entry[rate] = median([r[rate] for r in mine])
            ratios = [r[rate] / plain[r["repeat"]][rate] for r in mine if r["repeat"] in plain]
            entry[rate.replace("_steps_per_s", "_ratio")] = median(ratios)
        base = BASELINES.get(variant)
        if base is not None:
            others = {r["repeat"]: r for r in runs if r["variant"] == base and "error" not in r}
            for rate in RATES:
                entry[f"vs_{base}_" + rate.replace("_steps_per_s", "_ratio")] = median(
                    [r[rate] / others[r["repeat"]][rate] for r in mine if r["repeat"] in others])
        entry["load_1min"] = [r["load_before"][0] for r in runs if r["variant"] == variant]
        entry["val_acc"] = median([r["val_acc"] for r in mine])
        terminals = [r["terminal"] for r in mine if "terminal" in r]
        if terminals:
            entry["training_bytes_per_s"] = median(
                [t.get("training_bytes_per_s", math.nan) for t in terminals])
            entry["run_bytes_per_s"] = median([t.get("run_bytes_per_s", math.nan)
                                               for t in terminals])
        summary[variant] = entry
    return summary


def table(report: dict[str, Any]) -> str:
    """The summary as a Markdown table."""
    lines = ["| variant | train steps/s | ratio | epoch steps/s | ratio | steady steps/s | ratio "
             "| steps/CPU-s | ratio | wall steps/s | ratio | load (1 min) |", "|" + "---|" * 12]
    for entry in report["summary"].values():
        cells = [entry["label"]]
        for rate in RATES:
            ratio = entry[rate.replace("_steps_per_s", "_ratio")]
            cells += [f"{entry[rate]:.1f}", f"{ratio:.3f}x"]
        loads = entry["load_1min"]
        cells.append(f"{min(loads):.2f}-{max(loads):.2f}" if loads else "")
        lines.append("| " + " | ".join(cells) + " |")
    for variant, entry in report["summary"].items():
        base = BASELINES.get(variant)
        if base is not None and f"vs_{base}_train_ratio" in entry:
            names = [(rate.removesuffix("_steps_per_s"),
                      f"vs_{base}_" + rate.replace("_steps_per_s", "_ratio")) for rate in RATES]
            ratios = ", ".join(f"{name} {entry[key]:.3f}x" for name, key in names)
            lines.append(f"\n{variant} vs {base}: {ratios}")
        if "training_bytes_per_s" in entry:
            lines.append(f"\n{variant}: {entry['training_bytes_per_s'] / 1000:.1f} KB/s while "
                         f"training, {entry['run_bytes_per_s'] / 1000:.1f} KB/s over the run")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
