"""The keys of the live view: one table feeds the key bindings, the footer and the help."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding, BindingType


@dataclass(frozen=True)
class Key:
    """A key (or keys), its action, its footer label and what the help says it does."""

    keys: str
    """Textual key names, comma-separated."""
    action: str
    label: str
    """In the footer."""
    help: str
    """In the help screen ("": no row of its own, an earlier row tells)."""
    watching_help: str | None = None
    """The help when the view watches a run another process trains, if it differs."""
    display: str | None = None
    show: bool = True
    """Shown in the footer."""
    priority: bool = False
    help_keys: str | None = None
    """The keys as the help row shows them, when it speaks for several Keys."""


KEYS = (
    Key("p,space", "toggle_pause", "Pause/Resume",
        "pause / resume (within one training step)", display="p"),
    Key("s", "save", "Save", "save a checkpoint now"),
    Key("e", "finish_epoch", "End after epoch", "finish after the current epoch, then evaluate"),
    Key("l", "set_lr", "LR", "set the learning rate (a value, or x0.5 to scale it)"),
    Key("m", "next_metric", "Metric", "chart the next scalar the run logs (metrics, LR)"),
    Key("y", "chart_view('log')", "Log y", "charts: log-scale y axis on / off", show=False),
    Key("w", "chart_view('window')", "Window",
        "charts: whole run / last 20 epochs / best epoch ±5", show=False),
    Key("plus,equals_sign", "chart_view('smoother')", "Smoother",
        "charts: smooth per-step curves more / less (0 to 0.99)", show=False,
        display="+", help_keys="+/-"),
    Key("minus", "chart_view('rougher')", "Rougher", "", show=False, display="-"),
    Key("r", "switch_report", "Charts/Report",
        "the charts or the final report, once the run is over"),
    Key("n", "normalize_matrix", "Normalize",
        "confusion matrix: counts or % of each true class"),
    Key("pageup", "scroll_log('up')", "Log up",
        "event log: a page back / on; End: the newest line", show=False,
        priority=True, help_keys="PgUp/Dn"),
    Key("pagedown", "scroll_log('down')", "Log down", "", show=False, priority=True),
    Key("end", "scroll_log('end')", "Log end", "", show=False, priority=True),
    Key("o", "show_output", "Output", "the trainer's own output (output.log)"),
    Key("t", "next_theme", "Theme", "next theme"),
    Key("question_mark", "help", "Help", "this help", display="?"),
    Key("q", "request_quit", "Quit", "quit (asks first while training runs)",
        watching_help="leave the view; training goes on"),
    Key("ctrl+c", "interrupt", "Stop", "stop now and save; press again to quit at once",
        watching_help="leave the view; training goes on", show=False, priority=True),
)


RUN_ACTIONS = {"toggle_pause": "pause or resume", "save": "save", "finish_epoch": "stop",
               "set_lr": "change"}
"""Actions on the training itself, and what they do in words."""
KEY_ACTIONS = {name: key.action for key in KEYS for name in key.keys.split(",")}


def bindings() -> list[BindingType]:
    """The app's key bindings."""
    return [Binding(key.keys, key.action, key.label, show=key.show, key_display=key.display,
                    priority=key.priority) for key in KEYS]


def help_rows(watching: bool) -> list[tuple[str, str]]:
    """(keys as shown, what they do) for the help screen."""
    return [(key.help_keys or _shown(key.keys),
             key.watching_help if watching and key.watching_help else key.help)
            for key in KEYS if key.help]


def _shown(keys: str) -> str:
    names = {"question_mark": "?", "ctrl+c": "Ctrl+C"}
    return ", ".join(names.get(key, key) for key in keys.split(","))
