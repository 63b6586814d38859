"""Record the event stream the TUI tests replay: a real short run, its times rebased.

    python tests/record_run.py            # rewrites tests/data/recorded_run.jsonl
    python tests/record_run.py --upgrade  # only brings its events to the current schema

The run is real (the MLP on digits, a step LR schedule, a periodic checkpoint, a pause
and a save requested mid-epoch), so the recording has exactly the events and fields
trainui emits; `test_recorded_run.py` fails when the two drift apart. Times are rebased
to a fixed start and paths to a fixed run directory, so snapshots are the same anywhere.
"""

from __future__ import annotations

import json
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RECORDING = HERE / "data" / "recorded_run.jsonl"
START = 1_700_000_000.0
RUN_NAME = "digits-mlp-demo"
RUN_DIR = f"runs/{RUN_NAME}"
CONFIG = {"model": "mlp", "epochs": 9, "patience": 2, "scheduler": "step", "lr": 0.003,
          "batch_size": 64, "checkpoint_every": 3, "device": "cpu", "seed": 3}
PAUSE_AT = (4, 10)
"""(epoch, step) where the recording pauses for a moment and asks for a checkpoint."""


def record() -> list[dict[str, Any]]:
    """Train the run and return its events as dicts, in order."""
    from trainui.core.config import RunConfig
    from trainui.core.control import Control
    from trainui.core.events import Event, Progress
    from trainui.core.job import run_training

    events: list[dict[str, Any]] = []
    control = Control()
    paused = threading.Event()

    def sink(event: Event) -> None:
        events.append(event.to_dict())
        if isinstance(event, Progress) and (event.epoch, event.step) >= PAUSE_AT \
                and not paused.is_set():
            paused.set()
            control.pause()
            control.request_save()
            threading.Timer(0.5, control.resume).start()

    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder) / RUN_NAME
        config = RunConfig(**CONFIG, progress_interval=0.05, run_dir=str(run_dir))
        run_training(config, [sink], control)
        return [_normalised(event, str(run_dir)) for event in events]


def _normalised(event: dict[str, Any], run_dir: str) -> dict[str, Any]:
    text = json.dumps(event).replace(run_dir, RUN_DIR)
    data = json.loads(text)
    return data


def rebase(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Times from START, rounded to milliseconds; elapsed figures follow."""
    first = events[0]["time"]
    for event in events:
        event["time"] = round(START + event["time"] - first, 3)
        if "started_at" in event.get("config", {}):
            event["config"]["started_at"] = START
    return events


def upgrade() -> list[dict[str, Any]]:
    """The recording's events read and written again: fields added since get their
    defaults, removed ones go; the run itself (and so every snapshot) stays the same."""
    from trainui.core.events import event_from_dict

    events = [event_from_dict(json.loads(line)) for line in RECORDING.read_text().splitlines()]
    return [event.to_dict() for event in events if event is not None]


def main() -> int:
    events = upgrade() if "--upgrade" in sys.argv[1:] else rebase(record())
    RECORDING.parent.mkdir(exist_ok=True)
    RECORDING.write_text("".join(json.dumps(event) + "\n" for event in events))
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event["kind"]] = kinds.get(event["kind"], 0) + 1
    print(f"wrote {len(events)} events to {RECORDING}: {kinds}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
