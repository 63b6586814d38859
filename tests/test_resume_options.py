"""`trainui train --resume RUN --epochs N`: a run extended to N epochs in all, exactly as an
uninterrupted N-epoch run; every other config flag given with --resume is an error."""

from __future__ import annotations

import csv
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import torch

from conftest import Processes, RunTrainui
from trainui.core.checkpoint import FORMAT, FORMAT_VERSION, train_on
from trainui.core.config import RunConfig
from trainui.core.errors import TrainuiError
from trainui.core.job import extend_run
from trainui.core.outcome import ExitCode
from trainui.core.run_dir import LOCK_FILE, RunLock, create_run_dir, is_locked
from trainui.tui.cli import given_flags, main, parse_args, resume_extends

MLP = ["--headless", "--model", "mlp", "--seed", "3"]
VARYING = ("epoch_time", "samples_per_second")  # wall-clock columns: never the same twice
TIMEOUT_S = 180

# --- which flags go with --resume ------------------------------------------------------


@pytest.mark.parametrize("argv, named", [
    (["--lr", "0.1"], "--lr cannot change on --resume"),
    (["--lr", "0.1", "--batch-size", "8"], "--lr and --batch-size cannot change"),
    (["--seed", "1", "--compile", "--epochs", "9", "--run-dir", "x"],
     "--seed, --compile and --run-dir cannot change"),
    (["--batch", "8"], "--batch-size cannot change"),  # an abbreviation, named in full
    (["--lr", "0.001"], "--lr cannot change"),  # the default, given: still a change asked for
])
def test_config_flags_with_resume_are_refused(argv: list[str], named: str) -> None:
    args = parse_args(["train", "--resume", "runs/a", *argv])
    with pytest.raises(TrainuiError, match=named) as refused:
        resume_extends(args)
    assert str(refused.value).endswith("(the run keeps its stored config); only --epochs can")


def test_session_flags_and_epochs_go_with_resume() -> None:
    session = ["--detach", "--headless", "--theme", "dark", "--refresh-rate", "3", "--debug"]
    assert resume_extends(parse_args(["train", "--resume", "runs/a", *session])) is None
    assert resume_extends(parse_args(["--resume", "runs/a", "--epochs", "7"])) == 7


def test_a_new_run_keeps_its_defaults() -> None:
    """Noting the flags given changes nothing else: defaults stay RunConfig's."""
    args = parse_args(["--epochs", "3", "--compile"])
    assert given_flags(args) == ("--epochs", "--compile")
    assert given_flags(parse_args([])) == ()
    assert args.lr == RunConfig().lr and args.batch_size == RunConfig().batch_size


# --- extend_run: the checks, and what it stores ----------------------------------------


def fake_run(folder: Path, *, done: int | None, **config: Any) -> Path:
    """A run directory whose last.pt says `done` epochs (no last.pt for None)."""
    run_dir = create_run_dir(folder / "run")
    stored = {**RunConfig(model="mlp", epochs=5, run_dir="as/stored").to_dict(), **config,
              "from_a_newer_trainui": 1}
    (run_dir / "config.json").write_text(json.dumps(stored, indent=2) + "\n")
    (run_dir / "events.jsonl").write_text('{"kind": "run_started"}\n')
    if done is not None:
        (run_dir / "checkpoints").mkdir()
        torch.save({"format": FORMAT, "format_version": FORMAT_VERSION,
                    "model_state_dict": {"w": torch.zeros(2)}, "optimizer_state_dict": {},
                    "scaler_state_dict": {}, "epoch": done, "global_step": 10 * done,
                    "history": {}, "rng_state": {}}, run_dir / "checkpoints" / "last.pt")
    return run_dir


def files_of(run_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and modification time, but the lock's (it names its holder)."""
    return {str(p.relative_to(run_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted(run_dir.rglob("*")) if p.is_file() and p.name != LOCK_FILE}


def stored(run_dir: Path) -> dict[str, Any]:
    return dict(json.loads((run_dir / "config.json").read_text()))


def test_extend_stores_the_new_epochs_and_keeps_the_rest(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, done=3)
    before = stored(run_dir)
    assert extend_run(run_dir, 8).epochs == 8
    assert stored(run_dir) == {**before, "epochs": 8}  # run_dir as stored, unknown keys kept


@pytest.mark.parametrize("epochs", [3, 2])
def test_extend_to_no_more_than_done_is_refused(tmp_path: Path, epochs: int) -> None:
    run_dir = fake_run(tmp_path, done=3)
    before = files_of(run_dir)
    with pytest.raises(TrainuiError, match=f"cannot extend {run_dir} to {epochs} epochs: "
                       "it has done 3 already"):
        extend_run(run_dir, epochs)
    assert files_of(run_dir) == before


@pytest.mark.parametrize("scheduler", ["step", "cosine", "onecycle"])
def test_a_schedule_laid_out_over_the_epochs_is_not_extended(tmp_path: Path,
                                                             scheduler: str) -> None:
    run_dir = fake_run(tmp_path, done=3, scheduler=scheduler)
    before = files_of(run_dir)
    with pytest.raises(TrainuiError, match=f"its {scheduler} schedule is laid out over its 5 "
                       "epochs"):
        extend_run(run_dir, 8)
    assert files_of(run_dir) == before
    extend_run(run_dir, 5)  # its own total: a plain resume, nothing to write
    assert files_of(run_dir) == before


def test_a_run_without_an_epoch_done_takes_any_schedule(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, done=None, scheduler="onecycle")
    assert extend_run(run_dir, 9).epochs == 9 and stored(run_dir)["epochs"] == 9


def test_a_run_in_training_is_not_extended(tmp_path: Path) -> None:
    run_dir = fake_run(tmp_path, done=1)
    before = files_of(run_dir)
    with RunLock(run_dir), pytest.raises(TrainuiError, match="being trained by another"):
        extend_run(run_dir, 8)
    assert files_of(run_dir) == before


def test_train_on_forgets_an_early_stop_and_its_wait() -> None:
    stopping = {"wait_count": 2, "stopped_epoch": 3, "reason": "no better",
                "best": 0.5, "best_epoch": 1}
    payload: dict[str, Any] = {
        "epoch": 3, "stop_cause": "early_stopping", "stop_reason": "early stopping",
        "callbacks": {"EarlyStopping": stopping, "Checkpointing": {"best": 0.5}}}
    reopened = train_on(payload)
    assert reopened["stop_cause"] is None and reopened["stop_reason"] == ""
    assert reopened["callbacks"] == {
        "EarlyStopping": {"wait_count": 0, "stopped_epoch": None, "reason": "",
                          "best": 0.5, "best_epoch": 1},
        "Checkpointing": {"best": 0.5}}
    assert payload["callbacks"]["EarlyStopping"] is stopping and stopping["wait_count"] == 2
    unstopped: dict[str, Any] = {"epoch": 3, "stop_cause": None}
    assert train_on(unstopped) is unstopped


# --- real runs ---------------------------------------------------------------------------


def history(run_dir: Path) -> list[dict[str, str]]:
    """history.csv's rows without the wall-clock columns."""
    with (run_dir / "history.csv").open() as handle:
        return [{k: v for k, v in row.items() if k not in VARYING}
                for row in csv.DictReader(handle)]


def events(run_dir: Path, kind: str) -> list[dict[str, Any]]:
    lines = (run_dir / "events.jsonl").read_text().splitlines()
    return [event for event in map(json.loads, lines) if event["kind"] == kind]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return dict(torch.load(path, weights_only=True))


def ok(result: Any) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def one_error(capsys: pytest.CaptureFixture[str], fragment: str) -> None:
    """What `main` just wrote: one error line naming `fragment`, and nothing else."""
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1 and fragment in err, err


def wait_until_released(run_dir: Path) -> None:
    """Wait for the trainer of a background run to end."""
    deadline = time.monotonic() + TIMEOUT_S
    while is_locked(run_dir):
        assert time.monotonic() < deadline, f"{run_dir} still trains"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("flags, how", [
    # plateau: epoch 2 brings no improvement, epoch 3 none either: the LR drops only if
    # the scheduler's count carried over the extension.
    (["--lr", "0.2", "--lr-patience", "1"], "headless"),
    (["--scheduler", "none"], "detach"),
], ids=["plateau-headless", "none-detach"])
def test_a_finished_run_extended_equals_an_uninterrupted_one(
    tmp_path: Path, trainui_cli: RunTrainui, cli_pool: ThreadPoolExecutor,
    processes: Processes, capsys: pytest.CaptureFixture[str],
    flags: list[str], how: str,
) -> None:
    short, whole = processes.own_run(tmp_path / "short"), tmp_path / "whole"
    runs = [cli_pool.submit(trainui_cli, [*MLP, *flags, "--epochs", epochs, "--run-dir", path])
            for epochs, path in (("2", short), ("4", whole))]
    for future in runs:
        ok(future.result())
    extend = ["train", "--resume", str(short), "--epochs", "4"]
    ok(trainui_cli([*extend, "--detach"] if how == "detach" else [*extend, "--headless"]))
    wait_until_released(short)

    assert history(short) == history(whole)  # bit for bit: the numbers as written
    if how == "headless":
        assert len({row["lr"] for row in history(short)}) > 1  # the plateau acted
    ours, theirs = weights(short / "final_model.pt"), weights(whole / "final_model.pt")
    assert all(torch.equal(ours[key], theirs[key]) for key in theirs)
    assert stored(short)["epochs"] == 4
    started = events(short, "run_started")
    assert [(e["epochs"], e["start_epoch"]) for e in started] == [(2, 0), (4, 2)]

    before = files_of(short)  # now 4 done: --epochs 4 again, and --lr, are refused
    assert main([*extend, "--headless"]) == ExitCode.USAGE
    one_error(capsys, f"cannot extend {short} to 4 epochs: it has done 4 already")
    assert main(["train", "--resume", str(short), "--lr", "0.1", "--detach"]) == ExitCode.USAGE
    one_error(capsys, "--lr cannot change on --resume")
    assert files_of(short) == before


@pytest.mark.slow
def test_an_early_stopped_run_extended_trains_on(
    tmp_path: Path, trainui_cli: RunTrainui, processes: Processes,
) -> None:
    """Its patience starts afresh (the best is kept): it trains the epochs asked for, or
    until patience runs out again. Extended as the live view does it: the trainer child."""
    from trainui.tui.launch import launch_trainer

    run_dir = processes.own_run(tmp_path / "run")
    # No epoch beats the first by 10: early stopping ends it after epoch 3.
    ok(trainui_cli([*MLP, "--epochs", "10", "--patience", "2", "--min-delta", "10",
                    "--run-dir", run_dir]))
    assert [e["epochs_completed"] for e in events(run_dir, "finished")] == [3]

    extend_run(run_dir, 6)
    launched = launch_trainer(None, str(run_dir), extend=True)
    processes.started.append(launched.process)
    assert launched.process.wait(timeout=TIMEOUT_S) == 0, launched.last_output_line()

    assert [row["epoch"] for row in history(run_dir)] == ["1", "2", "3", "4", "5"]
    finished = events(run_dir, "finished")[-1]
    assert (finished["cause"], finished["best_epoch"]) == ("early_stopping", 1)
    updates = [(e["epoch"], e["wait_count"]) for e in events(run_dir, "early_stopping_updated")]
    assert updates[-2:] == [(4, 1), (5, 2)]
    assert events(run_dir, "run_started")[-1]["epochs"] == 6
