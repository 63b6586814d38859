"""The default `trainui --headless` run: wall time, test accuracy, how it stopped.

    python bench/default_run.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import emit, load_average, machine, trainui_command


def main(argv: list[str] | None = None) -> int:
    """Run `trainui --headless --run-dir TMP` (all defaults) and read its metrics.json."""
    extra = list(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        started = time.perf_counter()
        proc = subprocess.run([*trainui_command(), "--headless", "--run-dir", str(run_dir), *extra],
                              capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        metrics = json.loads((run_dir / "metrics.json").read_text()) if proc.returncode == 0 else {}
    report = {"figure": "default_run", "machine": machine(), "args": extra,
              "exit_code": proc.returncode, "wall_seconds": wall,
              "test_accuracy": metrics.get("accuracy"), "stop_cause": metrics.get("stop_cause"),
              "stop_reason": metrics.get("stop_reason"),
              "epochs_completed": metrics.get("epochs_completed"),
              "load_average_after": load_average(), "last_lines": proc.stdout.splitlines()[-3:]}
    emit(report, None)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
