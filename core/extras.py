"""Optional extras: packages some outputs need, checked before a run starts.

`pip install 'trainui[tensorboard]'` adds TensorBoard event files, `trainui[plots]` the
PNG charts. Without one, the option that needs it is one clear line naming the extra.
"""

from __future__ import annotations

import importlib.util

from .errors import TrainuiError

EXTRAS = {"tensorboard": "tensorboard", "matplotlib": "plots"}
"""The package each extra brings, by import name: the extra's name."""


def available(module: str) -> bool:
    """Whether `module` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, what: str) -> None:
    """Raise TrainuiError when `module` is missing: `what` needs it, and how to install."""
    if not available(module):
        raise TrainuiError(f"{what} needs the {module} package: "
                           f"pip install 'trainui[{EXTRAS[module]}]'")
