"""trainui's headless engine. Names load lazily so `import trainui.core` stays cheap."""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "fit": "loop",
    "train_one_epoch": "loop",
    "validate": "loop",
    "Loop": "loop",
    "History": "history",
    "Control": "control",
    "RunConfig": "config",
    "run_training": "job",
    "evaluate": "evaluation",
    "TrainuiError": "errors",
    "StopCause": "outcome",
    "ExitCode": "outcome",
    "EventBus": "events",
    "ConsoleSink": "console",
    "Callback": "callbacks",
    "EarlyStopping": "callbacks",
    "Checkpointing": "callbacks",
    "LRScheduling": "callbacks",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainui.core' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
