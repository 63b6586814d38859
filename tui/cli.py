"""The `trainui` command line.

Imports stay light at module level: `trainui --help` must answer without importing torch.
The train flags are generated from `RunConfig`'s fields, so each has one default, one check
and one help text. Bad input becomes one line on stderr and exit status 2, never a
traceback (`--debug` or TRAINUI_DEBUG=1 adds the traceback of an unexpected error).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap
import typing
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from trainui.tui.redraw import MAX_REFRESH_RATE, REFRESH_RATE

RUNS_FORMATS = ("table", "csv", "json")
EXPORT_FORMATS = ("csv", "json", "markdown")
COMPARE_FORMATS = ("table", "csv", "json", "markdown")
COMMANDS = ("train", "run", "eval", "runs", "watch", "compare", "control", "plot", "export")
CONTROL_ACTIONS = {
    "pause": "pause at the next step boundary (acknowledged: paused)",
    "resume": "resume a paused run (acknowledged: resumed)",
    "save": "save a checkpoint now, paused or not (acknowledged: its file is written; "
            "the path is printed)",
    "stop": "save, then stop at the next step boundary and finish the run (evaluate, write "
            "its results) as Ctrl+C does (acknowledged: the stop is taken)",
    "stop-after-epoch": "finish the current epoch, then finish the run (acknowledged: the "
                        "stop is taken)",
    "set-lr": "set every parameter group's learning rate to VALUE at the next step, paused "
              "or not; a scheduler goes on from it, its schedule rescaled (acknowledged: "
              "the change is made)",
    "scale-lr": "multiply every parameter group's learning rate by VALUE, as set-lr does",
}
"""`trainui control` actions and their help; core/control_client.py ACTIONS does them."""
CONTROL_TIMEOUT_S = 30.0


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"trainui: error: {message}\n")


def _config_type(name: str, kind: type) -> Callable[[str], Any]:
    """argparse type for a config field: parse `kind`, then apply the field's own check."""
    from trainui.core.config import check_value

    what = {int: "an integer", float: "a number"}.get(kind)

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
        problem = check_value(name, value)
        if problem is not None:
            raise argparse.ArgumentTypeError(problem)
        return value

    parse.__name__ = kind.__name__  # what argparse names in its own messages
    return parse


def positive_number(text: str) -> float:
    """argparse type: a finite number > 0 (screen updates per second, a learning rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def add_config_flags(parser: argparse.ArgumentParser, only: Sequence[str] | None = None,
                     overrides: Sequence[str] = ()) -> None:
    """One flag per command-line field of RunConfig (or of those named in `only`),
    grouped, with its default shown. Fields in `overrides` default to None: the value
    stored with a run, which the flag replaces."""
    from trainui.core.config import RunConfig

    defaults = RunConfig()
    hints = typing.get_type_hints(RunConfig)
    groups: dict[str, Any] = {}
    for spec in dataclasses.fields(RunConfig):
        meta = spec.metadata
        if not meta.get("flag") or (only is not None and spec.name not in only):
            continue
        group = groups.get(meta["group"]) or groups.setdefault(
            meta["group"], parser.add_argument_group(meta["group"]))
        flag = "--" + spec.name.replace("_", "-")
        kind = next(t for t in (typing.get_args(hints[spec.name]) or (hints[spec.name],))
                    if t is not type(None))
        if kind is bool:
            group.add_argument(flag, action=_GivenTrue, help=meta["help"])
            continue
        default = None if spec.name in overrides else getattr(defaults, spec.name)
        shown = (" (default: the run's)" if spec.name in overrides
                 else "" if default is None else f" (default {default})")
        group.add_argument(
            flag, default=default, help=meta["help"] + shown, metavar=meta["metavar"],
            choices=meta["choices"], action=_Given,
            type=None if meta["choices"] or kind is str else _config_type(spec.name, kind),
        )


GIVEN = "given_flags"
"""The namespace attribute listing the config flags given on the command line."""


def _note_given(namespace: argparse.Namespace, flag: str) -> None:
    given = getattr(namespace, GIVEN, ())
    if flag not in given:
        setattr(namespace, GIVEN, (*given, flag))


class _Given(argparse._StoreAction):
    """Stores a config flag's value and notes that the flag was given."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        super().__call__(parser, namespace, values, option_string)
        _note_given(namespace, self.option_strings[0])


class _GivenTrue(argparse._StoreTrueAction):
    """A config switch (`--compile`) that notes it was given."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        super().__call__(parser, namespace, values, option_string)
        _note_given(namespace, self.option_strings[0])


def given_flags(args: argparse.Namespace) -> tuple[str, ...]:
    """The config flags given on the command line, in order, each once (`--lr`)."""
    return tuple(getattr(args, GIVEN, ()))


def resume_extends(args: argparse.Namespace) -> int | None:
    """For `train --resume`: the epochs `--epochs` extends the run to, or None. Any other
    config flag is a TrainuiError: a resumed run keeps its stored config."""
    from trainui.core.errors import TrainuiError

    given = given_flags(args)
    refused = [flag for flag in given if flag != "--epochs"]
    if refused:
        names = refused[0] if len(refused) == 1 else (
            f"{', '.join(refused[:-1])} and {refused[-1]}")
        raise TrainuiError(f"{names} cannot change on --resume (the run keeps its stored "
                           "config); only --epochs can")
    return int(args.epochs) if "--epochs" in given else None


def config_from_args(args: argparse.Namespace) -> Any:
    """The checked RunConfig the train flags describe."""
    from trainui.core.config import RunConfig

    names = {spec.name for spec in dataclasses.fields(RunConfig) if spec.metadata.get("flag")}
    values = {name: getattr(args, name) for name in names}
    if values["data_dir"]:  # stored in config.json: a resume from elsewhere finds it too
        values["data_dir"] = os.path.abspath(os.path.expanduser(values["data_dir"]))
    return RunConfig(**values).check()


def build_parser() -> argparse.ArgumentParser:
    """The full parser: `train` (the default command), `eval`, `runs` and `watch`."""
    from trainui.core.version import __version__

    parser = _Parser(
        prog="trainui",
        description="Train a PyTorch model with a live terminal UI (or headless log lines). "
        "Without a command, trainui runs `train`.",
    )
    parser.add_argument("--version", action="version", version=f"trainui {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(commands.add_parser("train", help="train a model (the default command)"))
    _add_run(commands.add_parser("run", help="run your own training command in the live view",
                                 usage="trainui run [options] -- COMMAND [ARGS...]"))
    _add_eval(commands.add_parser("eval", help="evaluate a checkpoint on the test split"))
    _add_runs(commands.add_parser("runs", help="list runs and their state"))
    _add_watch(commands.add_parser("watch", help="watch and control a run from anywhere"))
    _add_compare(commands.add_parser("compare", help="compare runs: metrics per epoch "
                                     "overlaid, config differences, final figures"))
    _add_control(commands.add_parser(
        "control", help="pause, resume, save or stop a live run; wait for its answer",
        formatter_class=argparse.RawDescriptionHelpFormatter))
    _add_plot(commands.add_parser("plot", help="write a run's history and confusion-matrix "
                                  "PNGs"))
    _add_export(commands.add_parser("export", help="a run's results as TensorBoard files or "
                                    "a CSV, JSON or Markdown table"))
    return parser


def _add_debug(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    p.add_argument("--debug", action="store_true",
                   help="print the traceback of an unexpected error (or set TRAINUI_DEBUG=1)")


def _add_view(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    _add_theme(p)
    p.add_argument("--refresh-rate", type=positive_number, default=REFRESH_RATE, metavar="HZ",
                   help=f"TUI screen updates per second at most (default {REFRESH_RATE:g}, "
                   f"capped at {MAX_REFRESH_RATE:g}); charts and the log at most once a second")


def _add_train(p: argparse.ArgumentParser) -> None:
    p.description = "Train a model. Defaults: the CNN on scikit-learn's digits, 20 epochs."
    add_config_flags(p)
    session = p.add_argument_group("session")
    session.add_argument("--resume", metavar="RUN_DIR",
                         help="continue RUN_DIR from its last checkpoint, with its stored "
                         "config; with --epochs N, up to N epochs in all (a finished, stopped "
                         "or early-stopped run trains on; not a run whose step, cosine or "
                         "onecycle schedule is fixed by its epochs); other train flags are "
                         "an error")
    session.add_argument("--detach", action="store_true", help="train in the background; "
                         "print the run directory and how to watch it")
    session.add_argument("--headless", action="store_true", help="plain log lines instead of "
                         "the TUI (automatic when stdout is not a terminal)")
    job = p.add_argument_group("several machines")
    job.add_argument("--node-rank", type=int, default=0, metavar="R",
                     help="this machine's number in a job of --nnodes machines (0: the one "
                     "that records the run and shows it; default 0)")
    job.add_argument("--rdzv-endpoint", metavar="HOST:PORT",
                     help="where the machines of a job meet (torchrun's c10d rendezvous, "
                     "hosted by node rank 0); needed with --nnodes above 1")
    _add_view(session)
    _add_debug(session)


def _add_run(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Run your own training command (a script that calls trainui.init, or a Lightning or "
        "Hugging Face Trainer with trainui's callback) as the trainer: the live view on a "
        "terminal, plain lines otherwise. Its own output goes to RUN_DIR/output.log.")
    p.add_argument("cmd", nargs=argparse.REMAINDER, metavar="-- COMMAND",
                   help="the command, after --: e.g. -- python train.py --epochs 5")
    p.add_argument("--run-dir", metavar="DIR",
                   help="the run's directory: new or empty (default ROOT/SCRIPT-TIME)")
    p.add_argument("--root", default="runs", help="folder for new runs (default runs)")
    p.add_argument("--detach", action="store_true", help="run in the background; print "
                   "the run directory and how to watch it")
    p.add_argument("--headless", action="store_true", help="the command's own output and "
                   "trainui's log lines instead of the TUI (automatic off a terminal)")
    _add_view(p)
    _add_debug(p)


def _add_eval(p: argparse.ArgumentParser) -> None:
    p.description = "Evaluate a checkpoint (or a plain state_dict file) on the test split."
    p.add_argument("checkpoint", help="path to a .pt file written by trainui")
    stored = ("dataset", "data_dir", "model", "batch_size")
    add_config_flags(p, only=(*stored, "download", "device"), overrides=stored)
    p.add_argument("--output", metavar="FILE", help="also write the metrics as JSON to FILE")
    p.add_argument("--normalize", action="store_true",
                   help="confusion matrix as percentages of each true class, not counts")
    _add_debug(p)


def _add_runs(p: argparse.ArgumentParser) -> None:
    p.description = ("List runs: name, state, epochs, best metric, test accuracy, duration, "
                     "start time; as CSV or JSON with each run's test metrics too. On a "
                     "terminal the list is a view: space marks runs, enter compares them.")
    p.add_argument("--root", help="folder holding the runs (default runs; a folder named "
                   "here must exist)")
    p.add_argument("--format", choices=RUNS_FORMATS,
                   help="table (aligned, for people; the default off a terminal), csv or "
                   "json; on a terminal without --format, the list opens as a view where "
                   "space marks runs and enter compares them")
    _add_theme(p)
    _add_debug(p)


def _add_plot(p: argparse.ArgumentParser) -> None:
    p.description = ("Draw a run as PNG files: history.png (loss and accuracy per epoch, "
                     "train and validation, the best epoch and LR changes marked) and "
                     "confusion_matrix.png (the test split's, annotated). Needs "
                     "trainui[plots] (matplotlib).")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run's directory")
    p.add_argument("--output", metavar="DIR",
                   help="folder for the PNG files (default: the run directory)")
    _add_debug(p)


def _add_export(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Export runs: --tensorboard writes TensorBoard event files from a run's history "
        "and events (any trainui run, trained with --tensorboard or not); --format prints "
        "final metrics and per-class scores as csv, json or markdown (the default when "
        "--tensorboard is not given).")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories")
    p.add_argument("--tensorboard", nargs="?", const="", metavar="DIR",
                   help="write TensorBoard files to DIR (default RUN_DIR/tensorboard; with "
                   "several runs, DIR/RUN_NAME)")
    p.add_argument("--format", choices=EXPORT_FORMATS,
                   help="print the runs' results as csv, json or markdown")
    p.add_argument("--output", metavar="FILE",
                   help="write the --format table to FILE instead of printing it")
    _add_debug(p)


def _add_watch(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Open the live view of a run another process is training (or has trained): "
        "p pauses/resumes it, s saves a checkpoint, e stops it after the epoch; q leaves "
        "it running."
    )
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR",
                   help="the run's directory (default: the most recent run under --root "
                   "still training, else the most recent one)")
    p.add_argument("--root", default="runs", help="folder holding the runs (default runs)")
    _add_view(p)
    _add_debug(p)


def _add_compare(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Compare runs: on a terminal, a view with one metric per epoch overlaid (m: the "
        "next metric the runs share, y: log scale), one marker per run, each run's best "
        "value, and a "
        "table of final figures and the config values that differ; runs still training "
        "are followed. Off a terminal, or with --format, the table is printed.")
    p.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more run directories")
    p.add_argument("--format", choices=COMPARE_FORMATS, help="print the table as table (aligned), "
                   "csv, json or markdown instead of opening the view")
    _add_theme(p)
    _add_debug(p)


def _add_theme(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    from trainui.themes import DEFAULT_THEME, available_themes

    p.add_argument("--theme", default=DEFAULT_THEME, help=f"TUI theme: "
                   f"{', '.join(available_themes())} (default {DEFAULT_THEME})")


def _add_control(p: argparse.ArgumentParser) -> None:
    p.description = textwrap.fill(
        "Send one request to the process training RUN_DIR (`trainui train`, `trainui run`, "
        "a script calling trainui.init) and wait until it acknowledges it in the run's "
        "events; then print one line saying so.", 78)
    actions = "\n".join(textwrap.fill(text, 78, initial_indent=f"  {name:<17} ",
                                       subsequent_indent=" " * 20)
                         for name, text in CONTROL_ACTIONS.items())
    p.epilog = (
        f"actions:\n{actions}\n\n"
        "A pause of a paused run, a resume of a running one or a stop of a run already\n"
        "stopping succeeds at once and says so. A stop does not wait for the run to end\n"
        "(`trainui watch RUN_DIR` follows it); stop-after-epoch leaves a paused run\n"
        "paused until it is resumed.\n\n"
        "exit status:\n"
        "  0    the trainer acknowledged the request (or the run already was as asked)\n"
        "  1    the run is not training (finished, stopped, failed, interrupted), or its\n"
        "       trainer did not acknowledge within --timeout, or ended first\n"
        "  2    bad input: not a trainui run directory, an unknown action, a bad --timeout\n"
        "  130  interrupted (Ctrl+C) while waiting; the request may still be taken")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the run's directory")
    p.add_argument("action", metavar="ACTION", choices=list(CONTROL_ACTIONS),
                   help=f"one of: {', '.join(CONTROL_ACTIONS)}")
    p.add_argument("value", nargs="?", type=positive_number, metavar="VALUE",
                   help="the learning rate of set-lr, the factor of scale-lr")
    p.add_argument("--timeout", type=positive_number, default=CONTROL_TIMEOUT_S, metavar="SECONDS",
                   help=f"how long to wait for the acknowledgment (default "
                   f"{CONTROL_TIMEOUT_S:g})")
    _add_debug(p)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse argv, treating a missing command as `train`."""
    args = list(argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "train")
    return build_parser().parse_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trainui` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from trainui.core.errors import DEBUG_ENV, report_error

    if args.debug:
        os.environ[DEBUG_ENV] = "1"  # child processes (the trainer) inherit it
    from trainui.tui import commands

    try:
        return commands.run(args)
    except (Exception, KeyboardInterrupt) as exc:  # the one place errors become a line
        return report_error(exc)


if __name__ == "__main__":
    sys.exit(main())
