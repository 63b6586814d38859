"""trainui: a PyTorch training loop with a live terminal UI, and a terminal monitor for
your own training.

    import trainui

    with trainui.init(config=vars(args), epochs=args.epochs) as run:
        for epoch in range(args.epochs):
            for x, y in loader:
                ...
                run.log({"loss": loss, "acc": acc, "lr": lr})
                if run.stop_requested:
                    break
            run.end_epoch({"val_loss": val_loss, "val_acc": val_acc})
            if run.stop_requested:
                break

Names load lazily: `import trainui` costs nothing until one is used.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "init": "trainui.core.api",
    "Run": "trainui.core.api",
    "TrainuiError": "trainui.core.errors",
    "__version__": "trainui.core.version",
}

__all__ = ["Run", "TrainuiError", "init"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'trainui' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
