"""Import a user's `package.module:factory` callable, with clear errors."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any

from .errors import TrainuiError


def is_factory_spec(name: str) -> bool:
    """True for `module:attribute` names (as opposed to built-in names)."""
    return ":" in name


def import_factory(spec: str, what: str) -> Callable[..., Any]:
    """Return the callable named by `package.module:factory`; `what` names it in errors."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise TrainuiError(f"{what} {spec!r}: expected the form package.module:factory")
    _current_directory_on_path()
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise TrainuiError(
            f"{what} {spec!r}: cannot import module {module_name!r} ({exc})"
        ) from None
    except Exception as exc:  # the user's module raised while importing
        raise TrainuiError(
            f"{what} {spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}"
        ) from None
    factory = getattr(module, attr, None)
    if factory is None:
        raise TrainuiError(f"{what} {spec!r}: module {module_name!r} has no attribute {attr!r}")
    if not callable(factory):
        raise TrainuiError(f"{what} {spec!r}: {attr!r} is not callable")
    return factory


def call_factory(factory: Callable[..., Any], spec: str, what: str, *args: Any) -> Any:
    """Call a user factory, turning its exceptions into one clear error line."""
    try:
        return factory(*args)
    except TrainuiError:
        raise
    except Exception as exc:
        raise TrainuiError(f"{what} {spec!r} raised {type(exc).__name__}: {exc}") from None


def _current_directory_on_path() -> None:
    """Modules in the working directory import, as with `python -m` (a console script
    does not put it on sys.path by itself)."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)
