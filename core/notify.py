"""Being told when a run ends (or rolls back): the terminal bell and a desktop notification
(`--notify`), and a one-line JSON summary POSTed to a URL (`--notify-url`).

The desktop notification is the terminal's own: OSC 9 (iTerm2, Windows Terminal, kitty,
WezTerm, ConEmu) and OSC 777 (foot, Ghostty, rxvt-unicode, VTE-based terminals), both
sent, after a BEL. Inside tmux they are wrapped in its passthrough sequence (tmux passes
them on with `set -g allow-passthrough on`); the BEL reaches tmux itself, which flags the
window and rings the outer terminal as its `bell-action` says. Over SSH they travel with
the rest of the screen, to the terminal on your desk.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from .errors import TrainuiError, one_line
from .events import Event, Failed, Finished, RolledBack
from .formats import percent
from .outcome import ExitCode, StopCause

NOTIFY_TIMEOUT_S = 5.0
"""How long a POST may take before it is given up (the run is over: it must not hang)."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
ESC, BEL = "\x1b", "\x07"


def check_url(url: str) -> str | None:
    """Why `url` cannot take a notification, or None."""
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url):
        return f"must be an http:// or https:// URL, got {url!r}"
    return None


def ending_of(event: Event) -> tuple[str, str] | None:
    """(title, body) of the notification an event is worth, or None."""
    if isinstance(event, Finished) and event.cause == StopCause.NON_FINITE_LOSS:
        return "failed", event.reason
    if isinstance(event, Finished):
        state = "finished" if event.cause == "completed" else "stopped"
        body = event.reason
        accuracy = (event.metrics or {}).get("accuracy")
        if isinstance(accuracy, int | float):
            body += f"; test accuracy {percent(accuracy)}"
        return state, body
    if isinstance(event, Failed):
        return "failed", one_line(event.message, 200)
    if isinstance(event, RolledBack):
        return "rolled back", (f"to the end of epoch {event.to_epoch} ({event.reason}); "
                               f"lr {event.new_lr:.3g} (rollback {event.count} of "
                               f"{event.max_count})")
    return None


def terminal_bytes(title: str, body: str, *, tmux: bool | None = None) -> str:
    """BEL, then an OSC 9 and an OSC 777 desktop notification; wrapped for tmux's
    passthrough inside tmux (by default: when $TMUX says so)."""
    title, body = _clean(title), _clean(body)
    notices = [f"{ESC}]9;{title}: {body}{BEL}",
               f"{ESC}]777;notify;{title.replace(';', ',')};{body.replace(';', ',')}{BEL}"]
    if tmux if tmux is not None else bool(os.environ.get("TMUX")):
        notices = [f"{ESC}Ptmux;{notice.replace(ESC, ESC + ESC)}{ESC}\\" for notice in notices]
    return BEL + "".join(notices)


def _clean(text: str) -> str:
    """No control characters: a run name or an error must not end the sequence early."""
    return _CONTROL.sub(" ", text)[:240]


def payload(event: Finished | Failed | RolledBack, run_dir: Path | None,
            run_name: str) -> dict[str, Any]:
    """The one-line JSON summary a `--notify-url` receives."""
    data: dict[str, Any] = {"run": run_name, "run_dir": str(run_dir) if run_dir else None,
                            "time": event.time}
    if isinstance(event, RolledBack):
        return {**data, "event": "rolled_back", "reason": event.reason,
                "epoch": event.epoch, "to_epoch": event.to_epoch, "old_lr": event.old_lr,
                "new_lr": event.new_lr, "count": event.count, "max_count": event.max_count}
    if isinstance(event, Failed):
        return {**data, "event": "failed", "message": event.message,
                "exit_code": event.exit_code}
    if event.cause == StopCause.NON_FINITE_LOSS:  # a run that failed, with its epochs
        return {**data, "event": "failed", "message": event.reason,
                "exit_code": int(ExitCode.FAILED), "epochs": event.epochs_completed}
    metrics = event.metrics or {}
    return {**data, "event": "finished", "cause": event.cause, "reason": event.reason,
            "epochs": event.epochs_completed, "elapsed_s": round(event.elapsed, 3),
            "best_monitor": event.best_monitor, "best_value": event.best_value,
            "best_epoch": event.best_epoch,
            **{f"test_{key}": metrics.get(key) for key in ("accuracy", "precision",
                                                            "recall", "f1")}}


def post_json(url: str, data: dict[str, Any], timeout: float = NOTIFY_TIMEOUT_S) -> None:
    """POST `data` as one line of JSON; TrainuiError says why it did not arrive."""
    import urllib.error
    import urllib.request

    body = json.dumps(data, separators=(",", ":"), allow_nan=False, default=str).encode()
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "trainui"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(1 << 16)
    except urllib.error.HTTPError as exc:
        raise TrainuiError(f"{url} answered {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrainuiError(f"cannot reach {url}: {one_line(reason)}") from None


class NotifySink:
    """The trainer's side: POSTs the run's ending to `url`; rings `terminal` (a stream on
    a terminal, for headless runs) with the bell and a desktop notification."""

    def __init__(self, run_dir: Path | None, *, url: str | None = None,
                 terminal: Any = None) -> None:
        self.run_dir = run_dir
        self.run_name = run_dir.name if run_dir else "run"
        self.url = url
        self.terminal = terminal

    def __call__(self, event: Event) -> None:
        ending = ending_of(event)
        if ending is None or not isinstance(event, Finished | Failed | RolledBack):
            return
        if self.terminal is not None:
            title, body = ending
            try:
                self.terminal.write(terminal_bytes(f"trainui: {self.run_name} {title}", body))
                self.terminal.flush()
            except (OSError, ValueError):
                self.terminal = None
        if self.url is not None:
            try:
                post_json(self.url, payload(event, self.run_dir, self.run_name))
            except TrainuiError as exc:
                import sys

                print(f"trainui: warning: notification not sent: {exc}", file=sys.stderr)
