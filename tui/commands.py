"""What each `trainui` command does. Heavy imports (torch, textual) happen inside functions."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from trainui.core.outcome import ExitCode


def run(args: argparse.Namespace) -> int:
    """Dispatch to the command's function; return the exit status."""
    handlers = {"train": train, "run": run_command, "eval": evaluate, "runs": runs,
                "watch": watch, "compare": compare, "control": control, "plot": plot,
                "export": export}
    return int(handlers[args.command or "train"](args))


def train(args: argparse.Namespace) -> int:
    """`trainui train`: in the TUI on a terminal, else headless; or in the background.
    `--resume RUN --epochs N` first extends the run to N epochs (checked, then stored)."""
    from trainui.themes import load_theme
    from trainui.tui.cli import config_from_args, resume_extends

    extend_to = resume_extends(args) if args.resume else None  # before anything is read
    load_theme(args.theme)  # an unknown theme is an error before anything starts
    config = None if args.resume else config_from_args(args)
    shape = job_shape(args, config)
    if shape.node_rank > 0:
        return train_other_node(shape)
    extend = extend_to is not None
    if extend_to is not None:
        from trainui.core.job import extend_run

        extend_run(Path(args.resume), extend_to)
    from trainui.tui.launch import launch_trainer

    def launch() -> Any:
        return launch_trainer(config, args.resume, extend=extend, endpoint=shape.endpoint)

    if args.detach:
        from trainui.tui.launch import start_detached

        return start_detached(launch())
    if not args.headless and use_tui():
        return train_tui(launch, args)
    if shape.several:
        return train_job_headless(config, args.resume, extend, shape)
    from trainui.core.trainer_process import train_headless

    if config is not None:
        return train_headless(config)
    return train_headless(run_dir=Path(args.resume), resume=True, extend=extend)


def job_shape(args: argparse.Namespace, config: Any) -> Any:
    """How many processes train the run, on how many machines (the stored config's, for
    --resume), checked: a busy rendezvous port or more processes than GPUs is an error."""
    import os

    from trainui.core.run_dir import check_run_dir, read_config
    from trainui.core.torchrun import JobShape, check_can_host, check_devices

    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return JobShape()  # one rank of a job torchrun started: its size is torchrun's
    if config is None:  # a run to resume: the one it was
        check_run_dir(Path(args.resume), "resume")
        config = read_config(Path(args.resume), "resume")
    shape = JobShape(config.nproc_per_node, config.nnodes, args.node_rank,
                     args.rdzv_endpoint, config.max_restarts).check()
    if shape.several:
        check_devices(shape, config.device)
        check_can_host(shape)
    return shape


def train_other_node(shape: Any) -> int:
    """A machine of a job other than node rank 0: its processes train the run that node 0
    records and shows; here, torchrun's agent runs until the job ends."""
    from trainui.core.torchrun import run_job, trainer_arguments

    print(f"trainui: node {shape.node_rank} of {shape.nnodes}: {shape.nproc_per_node} "
          f"process{'' if shape.nproc_per_node == 1 else 'es'} joining the job at "
          f"{shape.endpoint} (node 0 records the run and shows it)", file=sys.stderr,
          flush=True)
    return run_job(shape, trainer_arguments(None, resume=False, extend=False))


def train_job_headless(config: Any, resume: str | None, extend: bool, shape: Any) -> int:
    """A job of several processes in this terminal: torchrun's agent runs here, its
    recording rank prints the log lines."""
    from trainui.core import trainer_process
    from trainui.core.run_dir import prepare_run_dir
    from trainui.core.torchrun import ENDPOINT_FLAG

    run_dir = Path(resume) if resume is not None else prepare_run_dir(config)
    argv = [str(run_dir), *(["--resume"] if resume else []), *(["--extend"] if extend else [])]
    if shape.endpoint:
        argv += [ENDPOINT_FLAG, shape.endpoint]
    return trainer_process.main(argv)


def use_tui() -> bool:
    """The TUI needs a terminal on both ends; otherwise trainui prints log lines."""
    return sys.stdout.isatty() and sys.stdin.isatty()


def run_command(args: argparse.Namespace) -> int:
    """`trainui run -- COMMAND`: your own training code as the trainer, in the live view
    (or in the background, or headless: then the command replaces this process)."""
    from trainui.themes import load_theme
    from trainui.tui.launch import check_command, launch_script

    load_theme(args.theme)
    command = list(args.cmd)
    if command[:1] == ["--"]:
        command = command[1:]
    check_command(command)
    if args.detach:
        from trainui.tui.launch import start_detached

        return start_detached(launch_script(command, args.run_dir, args.root))
    if not args.headless and use_tui():
        return train_tui(lambda: launch_script(command, args.run_dir, args.root), args)
    return run_headless(command, args.run_dir, args.root)


def run_headless(command: list[str], run_dir: str | None, root: str) -> int:
    """The command in place of this process, writing into a new run (it prints trainui's
    log lines with its own output); its exit status is the command's."""
    import os

    from trainui.core.api import CONSOLE_ENV
    from trainui.tui.launch import prepare_script_run, script_environment

    path = prepare_script_run(command, run_dir, root)
    env = {**script_environment(path, command), CONSOLE_ENV: "1"}
    print(f"trainui: run {path}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        from trainui.core.errors import TrainuiError

        raise TrainuiError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    raise AssertionError("unreachable: exec returned")


def train_tui(launch: Any, args: argparse.Namespace) -> int:
    """Train in a child process and show it live; if the terminal goes away, it finishes.

    The view opens at once and shows the trainer setting up (importing torch, loading the
    data...). The trainer runs in its own process and session, so drawing the screen never
    competes with training for the interpreter, and the run survives the terminal.
    """
    from trainui.tui import splash
    from trainui.tui.launch import Launched, print_exit_summary
    from trainui.tui.terminal import detach_from_terminal, exit_on_signals, terminal_alive

    started: list[Launched] = []

    def pass_on(signum: int) -> None:
        if signum == signal.SIGTERM and started:
            started[0].process.send_signal(signal.SIGTERM)  # save and stop, as Ctrl+C

    # Until the app is up, a lost terminal or SIGTERM ends this process within
    # EXIT_GRACE_S; the trainer carries on in its own session (or, on SIGTERM, stops).
    exit_on_signals({signal.SIGHUP: ExitCode.OK, signal.SIGTERM: ExitCode.TERMINATED},
                    also=pass_on)
    launched = launch()  # first: it starts while the UI loads
    started.append(launched)
    if not terminal_alive(0):
        detach_from_terminal()
        return ExitCode.OK  # nothing to show it on: it trains on by itself
    splash.show(launched.run_dir.name, f"the trainer (pid {launched.process.pid}) is starting")
    try:
        code, terminal_lost, shown_to_end = _view(launched, args)
    except KeyboardInterrupt:  # Ctrl+C before Textual took the keyboard
        splash.leave()
        launched.stop_at_once()
        return ExitCode.INTERRUPTED
    except BaseException:
        splash.leave()
        raise
    code = launched.after_view(code, terminal_lost, shown_to_end)
    if not terminal_lost:
        print_exit_summary(launched.run_dir)
    return code


def _view(launched: Any, args: argparse.Namespace) -> tuple[int, bool, bool]:
    """The live view of the trainer just launched: (exit status, terminal lost, whether it
    followed the run to its end)."""
    from trainui.core.control_channel import RemoteControl
    from trainui.core.hardware import HardwareSampler
    from trainui.core.run_dir import trainer_stopped
    from trainui.tui.app import run_app
    from trainui.tui.launch import OUTPUT_LOG
    from trainui.tui.watch import follow

    run_dir = launched.run_dir
    remote = RemoteControl(run_dir, trainer=launched.process)
    shown_to_end = threading.Event()

    def job(feed: Any) -> None:
        follow(run_dir, feed, restore=feed.restore, observe=remote.observe,
               alive=launched.alive, new_session=launched.launched_at)
        shown_to_end.set()

    view = run_app(job, remote, theme=args.theme, refresh_rate=args.refresh_rate,
                   trainer_stopped=lambda: trainer_stopped(run_dir), exit_promptly=True,
                   run_name=run_dir.name, output_log=run_dir / OUTPUT_LOG,
                   hardware=HardwareSampler.for_run(run_dir), can_leave_running=True)
    if view.left_running:
        from trainui.tui.launch import print_exit_summary

        print_exit_summary(run_dir, pid=launched.process.pid)
    return view.code, view.terminal_lost or view.left_running, shown_to_end.is_set()


def evaluate(args: argparse.Namespace) -> int:
    """`trainui eval CHECKPOINT`: test-split metrics of saved weights."""
    from trainui.core.eval_checkpoint import evaluate_checkpoint
    from trainui.core.files import check_writable, write_json_file
    from trainui.tui.reports import format_metrics

    output = Path(args.output) if args.output else None
    if output is not None:
        check_writable(output)  # before the evaluation, which may take long
    metrics = evaluate_checkpoint(
        args.checkpoint, dataset=args.dataset, data_dir=args.data_dir, download=args.download,
        model=args.model, device=args.device, batch_size=args.batch_size)
    print(format_metrics(metrics, normalize=args.normalize))
    if output is not None:
        write_json_file(output, metrics)
    return ExitCode.OK


def runs(args: argparse.Namespace) -> int:
    """`trainui runs`: one line per run under --root; unreadable folders are noted."""
    from trainui.core.errors import TrainuiError
    from trainui.core.run_index import list_run, listing_table, scan_runs

    if args.root is not None and not Path(args.root).is_dir():
        raise TrainuiError(f"--root {args.root}: no such directory")
    args.root = args.root or "runs"
    found, unreadable = scan_runs(args.root)
    for folder in unreadable:
        print(f"trainui: note: skipped {folder}: permission denied", file=sys.stderr)
    if args.format is None and use_tui() and found:
        from trainui.themes import load_theme
        from trainui.tui.compare_picker import pick_runs

        load_theme(args.theme)
        return pick_runs(found, theme=args.theme)
    if args.format not in (None, "table"):
        from trainui.core.result_tables import runs_table

        print(runs_table([_results_or_note(path) for path in found], args.format), end="")
        return ExitCode.OK
    if not found:
        print(f"no runs in {args.root}")
        return ExitCode.OK
    print(listing_table([list_run(path) for path in found]))
    return ExitCode.OK


def compare(args: argparse.Namespace) -> int:
    """`trainui compare RUN_DIR RUN_DIR...`: the compare view on a terminal, else (or with
    --format) the runs' table."""
    from trainui.core.compare_tables import compare_table
    from trainui.core.run_compare import load_runs
    from trainui.themes import load_theme

    load_theme(args.theme)
    compared = load_runs(args.run_dirs)  # bad input is an error before any view opens
    if args.format is None and use_tui():
        from trainui.tui.compare import CompareApp

        CompareApp(compared, theme=args.theme).run()
        return ExitCode.OK
    print(compare_table(compared, args.format or "table"), end="")
    return ExitCode.OK


def _results_or_note(run_dir: Path) -> Any:
    """A run's results for a listing, or (a run whose files cannot be read) None, noted."""
    from trainui.core.errors import TrainuiError
    from trainui.core.run_results import load_results

    try:
        return load_results(run_dir, "list")
    except TrainuiError as exc:
        print(f"trainui: note: skipped {run_dir}: {exc}", file=sys.stderr)
        return None


def plot(args: argparse.Namespace) -> int:
    """`trainui plot RUN_DIR`: history.png and confusion_matrix.png."""
    from trainui.core.extras import require

    require("matplotlib", "trainui plot")
    from trainui.core.plots import write_plots
    from trainui.core.run_results import load_results

    results = load_results(args.run_dir, "plot")
    output = Path(args.output) if args.output else None
    for path in write_plots(results, output):
        print(path)
    return ExitCode.OK


def export(args: argparse.Namespace) -> int:
    """`trainui export RUN_DIR... [--tensorboard [DIR]] [--format FORMAT]`."""
    from trainui.core.run_results import load_results

    if args.tensorboard is not None:
        from trainui.core.extras import require

        require("tensorboard", "--tensorboard")
    results = [load_results(path, "export") for path in args.run_dirs]
    if args.tensorboard is not None:
        from trainui.core.tensorboard import export_folders, export_tensorboard

        folders = export_folders(results, Path(args.tensorboard) if args.tensorboard else None)
        for run, folder in zip(results, folders, strict=True):  # every folder checked first
            print(export_tensorboard(run, folder))
    if args.format is None and args.tensorboard is not None and not args.output:
        return ExitCode.OK
    from trainui.core.result_tables import export_table

    text = export_table(results, args.format or "markdown")
    if args.output:
        from trainui.core.files import FileWriter, check_writable

        output = Path(args.output)
        check_writable(output)
        FileWriter(output.parent).write_text(output.name, text)
    else:
        print(text, end="")
    return ExitCode.OK


def watch(args: argparse.Namespace) -> int:
    """`trainui watch [RUN_DIR]`: the live view of a run another process writes."""
    from trainui.themes import load_theme
    from trainui.tui.watch import watch_headless, watch_run

    load_theme(args.theme)
    run_dir = resolve_run_dir(args.run_dir, args.root)
    if use_tui():
        from trainui.tui.launch import print_exit_summary

        code = watch_run(run_dir, theme=args.theme, refresh_rate=args.refresh_rate)
        print_exit_summary(run_dir)
        return code
    return watch_headless(run_dir)


def resolve_run_dir(run_dir: str | None, root: str) -> Path:
    """The named run directory, checked, or the most recent one under `root`."""
    from trainui.core.run_dir import check_run_dir
    from trainui.core.run_index import latest_run

    if run_dir is None:
        return latest_run(root)
    path = Path(run_dir)
    check_run_dir(path, "watch")
    return path


def control(args: argparse.Namespace) -> int:
    """`trainui control RUN_DIR ACTION`: one request to a live run, acknowledged or not."""
    from trainui.core.control_client import ControlFailed, control_run
    from trainui.core.errors import one_line

    try:
        line = control_run(Path(args.run_dir), args.action, timeout=args.timeout,
                           value=args.value)
    except ControlFailed as exc:
        print(f"trainui: error: {one_line(str(exc), 1000)}", file=sys.stderr)
        return ExitCode.FAILED
    print(line, flush=True)
    return ExitCode.OK
