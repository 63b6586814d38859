"""What each `trainui` command does. Heavy imports (torch, textual) happen inside functions."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any

EXIT_OK, EXIT_FAILED = 0, 1


def run(args: argparse.Namespace, argv: list[str]) -> int:
    """Dispatch to the command's function; return the exit code."""
    handlers = {"train": train, "eval": evaluate, "runs": runs, "watch": watch}
    return handlers[args.command or "train"](args, argv)


def train(args: argparse.Namespace, argv: list[str]) -> int:
    """`trainui train`: in the TUI on a terminal, else headless; or in the background."""
    from trainui.core.config import RunConfig
    from trainui.core.control import Control
    from trainui.themes import load_theme

    load_theme(args.theme)  # an unknown theme is an error before anything starts
    config = RunConfig() if args.resume else config_from_args(args)
    if args.detach:
        from trainui.tui.detach import start_detached

        return start_detached(config, args, argv)
    if use_tui(args):
        return train_tui(config, Control(), args)
    return train_headless(config, Control(), args)


def config_from_args(args: argparse.Namespace) -> Any:
    """The validated RunConfig the train flags describe."""
    from trainui.core.config import RunConfig

    return RunConfig(
        dataset=args.dataset, data_dir=args.data_dir, download=args.download,
        model=args.model, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, weight_decay=args.weight_decay, scheduler=args.scheduler,
        lr_patience=args.lr_patience, patience=args.patience, min_delta=args.min_delta,
        amp=args.amp, clip_grad=args.clip_grad, seed=args.seed,
        deterministic=args.deterministic, device=args.device, num_workers=args.num_workers,
        run_dir=args.run_dir, checkpoint_every=args.checkpoint_every,
    ).validate()


def use_tui(args: argparse.Namespace) -> bool:
    """The TUI needs a terminal on both ends; otherwise trainui prints log lines."""
    return not args.headless and sys.stdout.isatty() and sys.stdin.isatty()


def train_headless(config: Any, control: Any, args: argparse.Namespace) -> int:
    """Train with plain log lines; signals stop gracefully."""
    from trainui.core.console import ConsoleSink
    from trainui.core.run import run_training

    received = install_stop_signals(control)
    result = run_training(config, [ConsoleSink()], control, resume=args.resume)
    if received:
        return 128 + received[0]
    return EXIT_OK if result.cause != "non_finite_loss" else EXIT_FAILED


def train_tui(config: Any, control: Any, args: argparse.Namespace) -> int:
    """Train in a child process and show it live; if the terminal goes away, it finishes.

    The trainer runs in its own process (and session), so drawing the screen never
    competes with training for the interpreter, and the run survives the terminal.
    """
    from trainui.core.control_channel import RemoteControl
    from trainui.tui.app import EXIT_INTERRUPTED, run_app
    from trainui.tui.detach import OUTPUT_LOG, launch_trainer
    from trainui.tui.terminal import detach_from_terminal, terminal_alive
    from trainui.tui.watch import follow

    hung_up = threading.Event()  # the terminal may go away before the app is up
    signal.signal(signal.SIGHUP, lambda *_: hung_up.set())
    trainer, run_dir = launch_trainer(config, args.resume)
    if hung_up.is_set() or not terminal_alive(sys.__stdin__.fileno()):
        detach_from_terminal()
        trainer.wait()  # it trains on in its own session; nothing to show it on
        return EXIT_OK
    remote = RemoteControl(run_dir)
    shown_to_end = threading.Event()

    def job(sink: Any) -> None:
        follow(run_dir, sink, remote.observe)
        shown_to_end.set()

    code, terminal_lost = run_app(job, remote, theme=args.theme,  # type: ignore[arg-type]
                                  refresh_rate=args.refresh_rate)
    if code == EXIT_INTERRUPTED and not shown_to_end.is_set() and not terminal_lost:
        trainer.send_signal(signal.SIGINT)  # second Ctrl+C: the trainer stops at once too
        trainer.send_signal(signal.SIGINT)
    trained = trainer.wait()  # after a terminal loss: training goes on to the end
    if trained not in (0, EXIT_INTERRUPTED, 128 + signal.SIGTERM) and not terminal_lost:
        print(f"trainui: error: training failed (exit {trained}); see {run_dir / OUTPUT_LOG}",
              file=sys.stderr)
        return EXIT_FAILED
    return code


def install_stop_signals(control: Any) -> list[int]:
    """First Ctrl+C/SIGTERM: stop at the next step and finish; a second Ctrl+C: stop at once."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        if received and signum == signal.SIGINT:
            raise KeyboardInterrupt
        received.append(signum)
        control.request_save()
        control.request_stop("now", source=signal.Signals(signum).name)

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return received


def evaluate(args: argparse.Namespace, argv: list[str]) -> int:
    """`trainui eval CHECKPOINT`: test-split metrics of saved weights."""
    from trainui.core.eval_checkpoint import EvalOptions, evaluate_checkpoint
    from trainui.tui.reports import format_metrics

    metrics = evaluate_checkpoint(args.checkpoint, EvalOptions(
        dataset=args.dataset, data_dir=args.data_dir, download=args.download,
        model=args.model, device=args.device, batch_size=args.batch_size,
    ))
    print(format_metrics(metrics))
    if args.output:
        from pathlib import Path

        from trainui.core.files import FileWriter

        output = Path(args.output)
        FileWriter(output.parent).write_json(output.name, metrics)
    return EXIT_OK


def runs(args: argparse.Namespace, argv: list[str]) -> int:
    """`trainui runs`: one line per run under --root."""
    from trainui.core.runs import find_runs, summarise
    from trainui.tui.reports import format_runs

    found = find_runs(args.root)
    if not found:
        print(f"no runs in {args.root}")
        return EXIT_OK
    print(format_runs([summarise(path) for path in found]))
    return EXIT_OK


def watch(args: argparse.Namespace, argv: list[str]) -> int:
    """`trainui watch [RUN_DIR]`: the live view of a run another process writes."""
    from trainui.themes import load_theme
    from trainui.tui.watch import watch_headless, watch_run

    load_theme(args.theme)
    run_dir = resolve_run_dir(args.run_dir, args.root)
    if sys.stdout.isatty() and sys.stdin.isatty():
        return watch_run(run_dir, theme=args.theme, refresh_rate=args.refresh_rate)
    return watch_headless(run_dir)


def resolve_run_dir(run_dir: str | None, root: str) -> Any:
    """The named run directory, checked, or the most recent one under `root`."""
    from pathlib import Path

    from trainui.core.errors import TrainuiError
    from trainui.core.runs import is_run_dir, latest_run

    if run_dir is None:
        return latest_run(root)
    path = Path(run_dir)
    if not path.is_dir():
        raise TrainuiError(f"run directory not found: {path}")
    if not is_run_dir(path):
        raise TrainuiError(f"{path} is not a trainui run (no config.json)")
    return path
