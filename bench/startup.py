"""Figure 4: start-up. Wall time of `trainui --help`, and time to the TUI's first frame.

    python bench/startup.py                 # 10 runs of each, medians
    python bench/startup.py --repeats 3

`--help` is timed from spawn to exit (subprocess, output discarded). The first frame is
timed in a 120x40 pty from spawn to the first byte, to the switch to the alternate screen,
and to the first paint that reaches the last row; the run is then killed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import common


def main(argv: list[str] | None = None) -> int:
    """Time both, interleaved with a bare-interpreter baseline."""
    args = _parser().parse_args(argv)
    help_times, bare_times, frames = [], [], []
    for _ in range(args.repeats):
        bare_times.append(_timed([common.python(), "-c", "pass"]))
        help_times.append(_timed([*common.trainui_command(), "--help"]))
        if not args.no_tui:
            frames.append(first_frame(args.threads))
    report: dict[str, Any] = {
        "figure": "startup", "machine": common.machine(), "repeats": args.repeats,
        "help_seconds": common.median(help_times), "help_runs": help_times,
        "bare_python_seconds": common.median(bare_times), "bare_python_runs": bare_times,
        "load_average_after": common.load_average(),
    }
    if frames:
        for key in ("first_byte", "alt_screen", "first_frame"):
            report[f"{key}_seconds"] = common.median([f[key] for f in frames if f[key] is not None])
        report["frames"] = frames
    print(f"trainui --help {report['help_seconds'] * 1e3:.0f} ms (python -c pass "
          f"{report['bare_python_seconds'] * 1e3:.0f} ms); first frame "
          f"{report.get('first_frame_seconds', float('nan')):.2f} s", file=sys.stderr)
    return common.emit(report, args.out)


def _parser() -> argparse.ArgumentParser:
    # --no-tui: time --help only.
    return common.bench_parser(__doc__, repeats=10, threads=1, no_tui=False)


def _timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def first_frame(threads: int) -> dict[str, Any]:
    """Spawn the TUI in a 120x40 pty; return when its first full frame arrived."""
    from pty_run import run_tui

    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        argv = [*common.trainui_command(), "--epochs", "1", "--run-dir", str(run_dir)]
        try:
            seen = run_tui(argv, run_dir, 120, 40, common.child_env(threads), timeout=60,
                           stop_after_first_frame=True, on_stop=_kill)
        finally:
            _kill_trainer(run_dir)  # it runs in a session of its own
    return {"first_byte": seen.first_byte, "alt_screen": seen.alt_screen,
            "first_frame": seen.first_frame, "bytes": seen.total_bytes}


def _kill_trainer(run_dir: Path) -> None:
    from trainui.core.run_dir import lock_holder

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # it may not hold the run yet
        pid = lock_holder(run_dir)
        if pid is not None:
            _kill_pid(pid)
            return
        time.sleep(0.05)


def _kill_pid(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _kill(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


if __name__ == "__main__":
    sys.exit(main())
