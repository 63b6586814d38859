"""Runs of two processes on torchrun (gloo on the CPU): one run recorded, controlled and
resumed as one process's is, two launchers on one machine acting as two nodes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import torch

from conftest import Processes, run_trainui
from test_control_command import control, events, wait_for
from trainui.core.data import ShardSampler
from trainui.core.errors import TrainuiError
from trainui.core.event_file import EVENT_LOG
from trainui.core.events import (
    CheckpointSaved,
    EpochEnded,
    Finished,
    Paused,
    Progress,
    RunStarted,
)
from trainui.core.metrics import RunningMetrics
from trainui.core.torchrun import (
    JobShape,
    check_devices,
    torchrun_arguments,
    trainer_arguments,
)
from trainui.tui.header import ranks_parts

slow = pytest.mark.slow
EPOCHS = 4
TWO_RANKS = ["train", "--headless", "--nproc-per-node", "2", "--device", "cpu",
             "--epochs", str(EPOCHS), "--patience", "100"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_evaluation_shards_hold_each_sample_once_without_padding() -> None:
    shards = [list(ShardSampler(11, rank, 3)) for rank in range(3)]
    assert sorted(sum(shards, [])) == list(range(11))
    assert [len(shard) for shard in shards] == [4, 4, 3]


def test_running_metrics_summed_over_ranks_weigh_each_sample() -> None:
    """Two ranks simulated by a reduce that adds a second rank's (equal-sized) batches."""
    mine = RunningMetrics()
    mine.add(torch.tensor(1.0), torch.tensor(3), 4)
    mine.add(torch.tensor(2.0), torch.tensor(1), 2)
    theirs = torch.tensor([[12.0, 2.0], [2.0, 0.0], [4.0, 2.0]])  # loss*size, correct, size
    losses = mine.read(lambda rows: rows + theirs)
    assert losses == [2.0, 1.5]  # (1*4 + 12) / 8, (2*2 + 2) / 4
    assert (mine.count, mine.own_count, mine.correct) == (12, 6, 6)
    assert mine.mean_loss == pytest.approx(22 / 12)


def test_the_header_names_the_ranks_and_the_slowest() -> None:
    assert ranks_parts(1, []) == []
    assert ranks_parts(2, []) == ["  ", ("2 ranks", "bold")]
    assert ranks_parts(2, [640.4, 612.0])[2:] == [
        " 640 612/s", ("  slowest ", "dim"), ("rank 1", "bold")]
    assert ranks_parts(2, [640.0, 635.0])[2:] == [" 640 635/s", ("  even pace", "dim")]
    many = ranks_parts(8, [100.0] * 5 + [50.0] + [100.0] * 2)
    assert many[-1] == ("rank 5", "bold") and not any("/s" in str(p) for p in many)


def test_the_job_is_launched_as_torchrun_would_be() -> None:
    alone = torchrun_arguments(JobShape(2), trainer_arguments(Path("r"), resume=True,
                                                                extend=False))
    assert alone == ["--nproc-per-node", "2", "--nnodes", "1", "--max-restarts", "0",
                     "--standalone", "--module", "trainui.core.trainer_process", "r",
                     "--resume"]
    other = torchrun_arguments(JobShape(1, 2, 1, "h:29400"),
                               trainer_arguments(None, resume=False, extend=False))
    assert other[6:] == ["--rdzv-backend", "c10d", "--rdzv-endpoint", "h:29400", "--rdzv-id",
                         "trainui", "--rdzv-conf", "is_host=0", "--module",
                         "trainui.core.trainer_process", "--rank"]


@pytest.mark.parametrize(("shape", "message"), [
    (JobShape(1, 2), "--nnodes 2 needs --rdzv-endpoint HOST:PORT"),
    (JobShape(1, 2, 2, "h:1"), "--node-rank must be between 0 and 1 for --nnodes 2, got 2"),
    (JobShape(2, 1, 0, "h:port"), "--rdzv-endpoint must be HOST:PORT"),
])
def test_a_job_that_cannot_run_is_refused(shape: JobShape, message: str) -> None:
    with pytest.raises(TrainuiError, match=message):
        shape.check()


def test_more_processes_than_gpus_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(TrainuiError, match="--nproc-per-node 2 is more than the 1 GPU of "
                                           "this machine"):
        check_devices(JobShape(2), "auto")
    check_devices(JobShape(2), "cpu")  # CPU processes need no GPU
    check_devices(JobShape(1, 2, 0, "h:1"), "cuda")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory,
                  cli_pool: ThreadPoolExecutor) -> tuple[subprocess.CompletedProcess[str], Path]:
    """A 2-rank run trained to its end, started while the other tests begin theirs."""
    run_dir = tmp_path_factory.mktemp("ddp") / "whole"
    future = cli_pool.submit(run_trainui, [*TWO_RANKS, "--run-dir", run_dir])
    return future.result(), run_dir


@slow
def test_a_run_of_two_ranks_has_one_writer_and_counts_each_test_sample_once(
        uninterrupted: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    result, run_dir = uninterrupted
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (run_dir / EVENT_LOG).read_text().splitlines()
    assert len(lines) == len(set(lines))  # no line written twice
    recorded = events(run_dir)
    started = [e for e in recorded if isinstance(e, RunStarted)]
    assert len(started) == 1 and started[0].world_size == 2
    steps = [e.global_step for e in recorded if isinstance(e, Progress)]
    assert steps == sorted(steps)  # one writer: its steps in order
    assert [e.epoch for e in recorded if isinstance(e, EpochEnded)] == list(range(1, EPOCHS + 1))
    progress = [e for e in recorded if isinstance(e, Progress)]
    assert all(len(e.rank_samples_per_second) == 2 for e in progress)
    finished = [e for e in recorded if isinstance(e, Finished)]
    assert len(finished) == 1 and finished[0].metrics is not None
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["samples"] == 270
    assert sum(map(sum, metrics["confusion_matrix"])) == 270


@slow
def test_test_metrics_equal_one_process_evaluating_the_same_weights(
        uninterrupted: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    from trainui.core.eval_checkpoint import evaluate_checkpoint

    _, run_dir = uninterrupted
    metrics = json.loads((run_dir / "metrics.json").read_text())
    alone = evaluate_checkpoint(run_dir / "checkpoints" / "best.pt", device="cpu")
    assert alone["confusion_matrix"] == metrics["confusion_matrix"]
    assert alone["accuracy"] == metrics["accuracy"]


@slow
def test_pause_reaches_both_ranks_and_kill_then_resume_is_bit_identical(
        tmp_path: Path, processes: Processes,
        uninterrupted: tuple[subprocess.CompletedProcess[str], Path]) -> None:
    """Paused from another process, both ranks stop at the same step; the job killed with
    SIGKILL after an epoch, --resume ends as the uninterrupted run did, bit for bit."""
    run_dir = processes.own_run(tmp_path / "killed")
    with open(tmp_path / "job.log", "wb") as log:
        job = processes.trainui([*TWO_RANKS, "--run-dir", run_dir], stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: (run_dir / "control").exists() or job.poll() is not None, "the channel")
    paused = control(run_dir, "pause")
    assert paused.returncode == 0, paused.stderr
    pause = next(e for e in events(run_dir) if isinstance(e, Paused))
    assert pause.rank_global_steps == [pause.global_step] * 2
    assert control(run_dir, "resume").returncode == 0
    wait_for(lambda: _saved_last(run_dir) or job.poll() is not None, "the first epoch's end")
    os.killpg(job.pid, signal.SIGKILL)  # the agent; its ranks die with it
    job.wait()
    assert not any(isinstance(e, Finished) for e in events(run_dir))

    resumed = run_trainui(["train", "--resume", run_dir, "--headless"])
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    _, whole = uninterrupted
    assert _same_weights(run_dir / "final_model.pt", whole / "final_model.pt")
    assert _history(run_dir) == _history(whole)
    assert (json.loads((run_dir / "metrics.json").read_text())["confusion_matrix"]
            == json.loads((whole / "metrics.json").read_text())["confusion_matrix"])


def _saved_last(run_dir: Path) -> bool:
    return any(isinstance(e, CheckpointSaved) and e.reason == "last" and e.epoch < EPOCHS
               for e in events(run_dir))


def _same_weights(path: Path, other: Path) -> bool:
    mine, theirs = (torch.load(p, weights_only=True) for p in (path, other))
    return mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)


def _history(run_dir: Path) -> list[list[str]]:
    """history.csv without the columns of time."""
    rows = [line.split(",") for line in (run_dir / "history.csv").read_text().splitlines()]
    keep = [i for i, name in enumerate(rows[0])
            if name not in ("epoch_time", "samples_per_second")]
    return [[row[i] for i in keep] for row in rows]


@slow
def test_two_launchers_as_two_nodes_train_one_run(tmp_path: Path, processes: Processes,
                                                  cli_pool: ThreadPoolExecutor) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    node: Callable[[int], list[object]] = lambda rank: [  # noqa: E731
        "train", "--headless", "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", rank,
        "--rdzv-endpoint", endpoint, "--device", "cpu", "--epochs", "1"]
    run_dir = processes.own_run(tmp_path / "nodes")
    first = cli_pool.submit(run_trainui, [*node(0), "--run-dir", run_dir])
    second = run_trainui(node(1), cwd=tmp_path)
    result = first.result()
    assert result.returncode == 0, result.stdout + result.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert "node 1 of 2" in second.stderr
    started = [e for e in events(run_dir) if isinstance(e, RunStarted)]
    assert len(started) == 1 and started[0].world_size == 2
    assert json.loads((run_dir / "metrics.json").read_text())["samples"] == 270
    assert list(tmp_path.iterdir()) == [run_dir]  # the second node wrote no run


@slow
def test_a_busy_rendezvous_port_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_trainui(["train", "--nproc-per-node", "1", "--nnodes", "2",
                              "--rdzv-endpoint", f"localhost:{port}", "--run-dir",
                              tmp_path / "never"])
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"trainui: error: the rendezvous port {port} is busy: another program (or job) "
        f"listens on it; choose another --rdzv-endpoint localhost:PORT"]
    assert not (tmp_path / "never").exists()


@slow
def test_a_script_of_your_own_on_torchrun_is_one_run_that_every_rank_obeys(
        tmp_path: Path, processes: Processes) -> None:
    """`trainui run -- torchrun ... script.py`: rank 0 records; a pause reaches both ranks
    at one step and a stop ends both at the same step."""
    run_dir = processes.own_run(tmp_path / "script")
    script = Path(__file__).parent / "scripts" / "ddp_script.py"
    with open(tmp_path / "out.log", "wb") as log:
        job = processes.trainui(
            ["run", "--headless", "--run-dir", run_dir, "--", sys.executable, "-m",
             "torch.distributed.run", "--standalone", "--nproc-per-node", "2", script],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: (run_dir / "control").exists() or job.poll() is not None, "the channel")
    assert control(run_dir, "pause").returncode == 0
    pause = next(e for e in events(run_dir) if isinstance(e, Paused))
    assert pause.rank_global_steps == [pause.global_step] * 2
    assert control(run_dir, "stop").returncode == 0
    assert job.wait(timeout=120) == 0
    ends = {line for line in (tmp_path / "out.log").read_text().splitlines()
            if " ended at step " in line}
    steps = {line.rpartition(" ")[2] for line in ends}
    assert len(ends) == 2 and len(steps) == 1, ends
    started = [e for e in events(run_dir) if isinstance(e, RunStarted)]
    assert len(started) == 1 and started[0].world_size == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.log", "script"]


def _ranks(launcher: int) -> list[int]:
    """The pids of the launcher's child processes (the ranks torchrun's agent started)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == launcher:
            children.append(int(stat.parent.name))
    return sorted(children)


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


@slow
def test_sigterm_to_the_launcher_stops_every_rank_with_one_checkpoint(
        tmp_path: Path, processes: Processes) -> None:
    """SIGTERM to `trainui train --nproc-per-node 2` (what a scheduler sends): both ranks
    stop at the same step, one checkpoint is saved, the test split is evaluated, and the
    launcher exits with the conventional code, leaving no rank behind."""
    run_dir = processes.own_run(tmp_path / "term")
    with open(tmp_path / "job.log", "wb") as log:
        job = processes.trainui([*TWO_RANKS, "--epochs", "500", "--run-dir", run_dir],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: any(isinstance(e, Progress) for e in events(run_dir))
             or job.poll() is not None, "training steps")
    ranks = _ranks(job.pid)
    assert len(ranks) == 2, ranks
    job.send_signal(signal.SIGTERM)
    code = job.wait(timeout=120)
    output = (tmp_path / "job.log").read_text()
    assert code == 128 + signal.SIGTERM, output
    assert len(list((run_dir / "checkpoints").glob("saved-step-*.pt"))) == 1
    finished = [e for e in events(run_dir) if isinstance(e, Finished)]
    assert len(finished) == 1 and finished[0].metrics is not None
    assert json.loads((run_dir / "metrics.json").read_text())["samples"] == 270
    assert "Traceback" not in output
    wait_for(lambda: all(_gone(pid) for pid in ranks), "the ranks to end")


@slow
def test_a_rank_that_dies_is_restarted_and_the_job_resumes_its_last_checkpoint(
        tmp_path: Path, processes: Processes) -> None:
    """--max-restarts 1: a rank killed with SIGKILL after the first epoch's checkpoint,
    torchrun's agent starts the job again and it goes on from last.pt to the end."""
    run_dir = processes.own_run(tmp_path / "restarted")
    with open(tmp_path / "job.log", "wb") as log:
        job = processes.trainui([*TWO_RANKS, "--epochs", "3", "--max-restarts", "1",
                                 "--run-dir", run_dir],
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    wait_for(lambda: any(isinstance(e, CheckpointSaved) and e.reason == "last"
                         for e in events(run_dir)) or job.poll() is not None,
             "the first epoch's checkpoint")
    ranks = _ranks(job.pid)
    assert len(ranks) == 2, ranks
    os.kill(ranks[-1], signal.SIGKILL)
    output = ""
    try:
        assert job.wait(timeout=180) == 0, (tmp_path / "job.log").read_text()
    finally:
        output = (tmp_path / "job.log").read_text()
    recorded = events(run_dir)
    sessions = [e for e in recorded if isinstance(e, RunStarted)]
    assert len(sessions) == 2 and sessions[1].start_epoch >= 1, output
    finished = [e for e in recorded if isinstance(e, Finished)]
    assert len(finished) == 1 and finished[0].epochs_completed == 3
    assert json.loads((run_dir / "metrics.json").read_text())["samples"] == 270
