"""The `trainui` command line.

Imports stay light at module level: `trainui --help` must answer without importing torch.
Bad input becomes one line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

EXIT_USAGE = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
COMMANDS = ("train", "eval", "runs", "watch")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are a single line."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"trainui: error: {message}\n")


def positive_int(text: str) -> int:
    """argparse type: an integer > 0."""
    value = _number(text, int, "an integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0."""
    value = _number(text, int, "an integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def seed_int(text: str) -> int:
    """argparse type: a seed torch accepts (0 <= seed < 2**63)."""
    value = _number(text, int, "an integer")
    if not 0 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"must be between 0 and 2**63-1, got {text}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    value = _number(text, float, "a number")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    value = _number(text, float, "a number")
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text}")
    return value


def _number(text: str, kind: type, what: str) -> Any:
    try:
        return kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    """The full parser: `train` (the default command) and `eval`."""
    parser = _Parser(
        prog="trainui",
        description="Train a PyTorch model with a live terminal UI (or headless log lines). "
        "Without a command, trainui runs `train`.",
    )
    parser.add_argument("--version", action="version", version="trainui 0.1.0")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_train(commands.add_parser("train", help="train a model (the default command)"))
    _add_eval(commands.add_parser("eval", help="evaluate a checkpoint on the test split"))
    _add_runs(commands.add_parser("runs", help="list runs and their state"))
    _add_watch(commands.add_parser("watch", help="watch and control a run from anywhere"))
    return parser


def _add_train(p: argparse.ArgumentParser) -> None:
    from trainui.core.config import AMP_MODES, OPTIMIZERS, SCHEDULERS

    p.description = "Train a model. Defaults: the CNN on scikit-learn's digits, 20 epochs."
    data = p.add_argument_group("data and model")
    data.add_argument(
        "--dataset",
        default="digits",
        help="digits (embedded, default), mnist, fashion-mnist, cifar10, or package.module:factory",
    )
    data.add_argument("--data-dir", help="folder holding torchvision data sets")
    data.add_argument(
        "--download",
        action="store_true",
        help="download a torchvision data set into --data-dir if missing",
    )
    data.add_argument(
        "--model", default="cnn", help="mlp, cnn (default), resnet18, or package.module:factory"
    )
    data.add_argument(
        "--num-workers",
        type=non_negative_int,
        default=0,
        help="DataLoader worker processes (default 0)",
    )
    opt = p.add_argument_group("optimisation")
    opt.add_argument("--epochs", type=positive_int, default=20)
    opt.add_argument("--batch-size", type=positive_int, default=64)
    opt.add_argument("--lr", type=positive_float, default=1e-3, help="learning rate")
    opt.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    opt.add_argument("--weight-decay", type=non_negative_float, default=0.0)
    opt.add_argument(
        "--scheduler",
        choices=SCHEDULERS,
        default="plateau",
        help="plateau steps on validation loss; step/cosine per epoch; "
        "onecycle per step (default plateau)",
    )
    opt.add_argument(
        "--lr-patience",
        type=non_negative_int,
        default=2,
        help="epochs without improvement before plateau lowers the LR",
    )
    opt.add_argument(
        "--patience",
        type=non_negative_int,
        default=5,
        help="early stopping: epochs without improvement (default 5)",
    )
    opt.add_argument(
        "--min-delta",
        type=non_negative_float,
        default=0.0,
        help="early stopping: smallest change that counts as improvement",
    )
    opt.add_argument("--amp", choices=AMP_MODES, default="off", help="mixed precision")
    opt.add_argument(
        "--clip-grad",
        type=positive_float,
        default=None,
        metavar="NORM",
        help="clip the gradient norm to NORM",
    )
    run = p.add_argument_group("run")
    run.add_argument("--seed", type=seed_int, default=42)
    run.add_argument(
        "--deterministic",
        action="store_true",
        help="use deterministic algorithms only (slower, reproducible)",
    )
    run.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:N, mps")
    run.add_argument("--run-dir", help="run directory (default runs/<dataset>-<model>-<time>)")
    run.add_argument(
        "--checkpoint-every",
        type=non_negative_int,
        default=0,
        metavar="N",
        help="also keep a checkpoint every N epochs (default: off)",
    )
    run.add_argument("--resume", metavar="RUN_DIR",
                     help="continue RUN_DIR from its last checkpoint, with its stored config")
    run.add_argument("--detach", action="store_true",
                     help="train in the background; print the run directory and how to watch it")
    run.add_argument(
        "--headless",
        action="store_true",
        help="plain log lines instead of the TUI (automatic when stdout is not a terminal)",
    )
    run.add_argument("--theme", default="dark", help="TUI theme: dark, light, high-contrast")
    run.add_argument(
        "--refresh-rate",
        type=positive_float,
        default=2.0,
        metavar="HZ",
        help="TUI screen updates per second at most (default 2); charts and the log at "
        "most once a second",
    )


def _add_eval(p: argparse.ArgumentParser) -> None:
    p.description = "Evaluate a checkpoint (or a plain state_dict file) on the test split."
    p.add_argument("checkpoint", help="path to a .pt file written by trainui")
    p.add_argument("--dataset", help="override the data set stored in the checkpoint")
    p.add_argument("--data-dir", help="folder holding torchvision data sets")
    p.add_argument("--download", action="store_true")
    p.add_argument("--model", help="override the model stored in the checkpoint")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=positive_int, default=None)
    p.add_argument("--output", metavar="FILE", help="also write the metrics as JSON to FILE")


def _add_runs(p: argparse.ArgumentParser) -> None:
    p.description = "List runs: name, state, epochs, best metric, start time."
    p.add_argument("--root", default="runs", help="folder holding the runs (default runs)")


def _add_watch(p: argparse.ArgumentParser) -> None:
    p.description = (
        "Open the live view of a run another process is training (or has trained): "
        "p pauses/resumes it, s saves a checkpoint, e stops it after the epoch; q leaves "
        "it running."
    )
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR",
                   help="the run's directory (default: the most recent run under --root)")
    p.add_argument("--root", default="runs", help="folder holding the runs (default runs)")
    p.add_argument("--theme", default="dark", help="dark, light, high-contrast")
    p.add_argument("--refresh-rate", type=positive_float, default=2.0, metavar="HZ",
                   help="screen updates per second at most (default 2)")


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse argv, treating a missing command as `train`."""
    args = list(argv)
    if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
        args.insert(0, "train")
    return build_parser().parse_args(args)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `trainui` console script."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from trainui.tui import commands

    try:
        return commands.run(args, sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:
        print("trainui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the one place that turns errors into a line
        from trainui.core.errors import TrainuiError

        if isinstance(exc, TrainuiError):
            print(f"trainui: error: {_one_line(str(exc))}", file=sys.stderr)
            return EXIT_USAGE
        print(f"trainui: error: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return EXIT_FAILED


def _one_line(message: str) -> str:
    # Messages may quote user code or torch, whose errors often span several lines.
    return " ".join(message.split())


if __name__ == "__main__":
    sys.exit(main())
