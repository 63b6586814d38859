"""The exception type that carries a user-facing message, and how errors become one line."""

from __future__ import annotations


class TrainuiError(Exception):
    """A problem the user can fix (bad flag, missing file, wrong checkpoint).

    The command line prints its message as one line on stderr and exits with status 2,
    without a traceback.
    """


class RunFailed(Exception):
    """A run failed unexpectedly; the message is the one line that says so (the original
    exception is its __cause__, its traceback in the run's error.log)."""


def one_line(error: BaseException | str, limit: int = 300) -> str:
    """An error as one short line: `Type: message` for exceptions, whitespace collapsed.

    Messages may quote user code, torch or the OS, whose errors often span several lines.
    TrainuiError messages are the user-facing text itself, so they carry no type name.
    """
    if isinstance(error, BaseException):
        text = " ".join(str(error).split())
        if not isinstance(error, TrainuiError | RunFailed):
            text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    else:
        text = " ".join(error.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


DEBUG_ENV = "TRAINUI_DEBUG"


def debugging() -> bool:
    """Whether unexpected errors also print their traceback (`--debug` or TRAINUI_DEBUG=1)."""
    import os

    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def report_error(error: BaseException, prog: str = "trainui") -> int:
    """Print `error` as one line on stderr and return the exit status it calls for.

    TrainuiError (bad input) is status 2, Ctrl+C 130, anything else 1; with debugging on,
    the traceback of an unexpected error comes first.
    """
    import sys
    import traceback

    from .outcome import ExitCode

    if isinstance(error, KeyboardInterrupt):
        print(f"{prog}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if isinstance(error, TrainuiError):
        print(f"{prog}: error: {one_line(error, 1000)}", file=sys.stderr)
        return ExitCode.USAGE
    if debugging():
        traceback.print_exception(error.__cause__ or error, file=sys.stderr)
    print(f"{prog}: error: {one_line(error, 1000)}", file=sys.stderr)
    return ExitCode.FAILED
