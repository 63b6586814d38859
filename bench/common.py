"""Shared bench helpers: machine facts, load average, medians, the default CPU workload."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SEED = 42
BATCH_SIZE = 64
LR = 1e-3


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, as `uptime` shows them."""
    return [round(v, 2) for v in os.getloadavg()]


def machine() -> dict[str, Any]:
    """CPU model, core count, RAM, Python and torch versions, date: what a figure ran on."""
    facts: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "load_average": load_average(),
    }
    try:
        import torch

        facts["torch"] = torch.__version__
    except ImportError:
        pass
    return facts


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return platform.processor()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def median(values: list[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


def emit(result: dict[str, Any], out: str | None) -> int:
    """Print the result as JSON (the last stdout line), write it to `out` when given;
    return the script's exit status (0)."""
    text = json.dumps(result, indent=None, default=str)
    if out:
        Path(out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(text)
    return 0


def bench_parser(doc: str | None, **defaults: Any) -> argparse.ArgumentParser:
    """A bench script's parser: its docstring's first line, `--out FILE`, and one option
    per keyword (`repeats=5` gives `--repeats N`, typed as its default; False gives a
    flag; None a string)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--out", help="write the JSON report here too")
    for name, default in defaults.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            parser.add_argument(flag, action="store_true")
        else:
            parser.add_argument(flag, default=default,
                                type=None if default is None else type(default))
    return parser


def child_env(threads: int) -> dict[str, str]:
    """Environment for a measured child: same torch thread count for every variant."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def python() -> str:
    """The interpreter running the bench (the virtualenv's)."""
    return sys.executable


def trainui_command() -> list[str]:
    """`trainui`, run as the installed console script next to this interpreter when present."""
    script = Path(sys.executable).with_name("trainui")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from trainui.tui.cli import main; sys.exit(main())"]
