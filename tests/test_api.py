"""`trainui.init` and its Run: your own loop writes a run trainui shows and steers."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch

import trainui
from conftest import run_trainui
from trainui.core.api import RUN_DIR_ENV
from trainui.core.control_channel import send_request
from trainui.core.event_file import EVENT_LOG, read_events
from trainui.core.events import (
    CheckpointSaved,
    EarlyStoppingUpdated,
    EpochEnded,
    Failed,
    Finished,
    Paused,
    Progress,
    Resumed,
    RunStarted,
    StopRequested,
)
from trainui.core.outcome import RunState
from trainui.core.run_dir import MARKER, create_run_dir, is_run_dir
from trainui.core.run_index import list_run
from trainui.core.run_summary import load_summary


def events_of(run_dir: Path) -> list:
    return list(read_events(run_dir / EVENT_LOG))


def of(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_a_plain_loop_writes_a_run_like_trainui_train(tmp_path: Path) -> None:
    """Same files, same events: RunStarted, Progress, EpochEnded, evaluation, Finished."""
    run_dir = tmp_path / "run"
    model = torch.nn.Linear(4, 3)
    with trainui.init(config={"lr": 0.1, "path": tmp_path}, epochs=2, steps_per_epoch=5,
                      run_dir=run_dir, model=model, dataset="toy", batch_size=8,
                      class_names=["a", "b", "c"], progress_interval=1e-6) as run:
        for epoch in range(2):
            for step in range(5):
                loss = torch.tensor(1.0 / (1 + epoch * 5 + step))
                run.log({"loss": loss, "acc": 0.5, "lr": 0.1, "grad_norm": torch.tensor(2.0)})
            run.end_epoch({"val_loss": 0.4, "val_acc": torch.tensor(0.75), "val_ppl": 1.5})
        metrics = run.evaluate([0, 1, 2, 2], torch.tensor([[9.0, 0, 0], [0, 9, 0],
                                                           [0, 0, 9], [0, 9, 0]]))
    assert metrics["accuracy"] == 0.75
    assert is_run_dir(run_dir) and (run_dir / MARKER).exists()
    config = json.loads((run_dir / "config.json").read_text())
    assert config["trainer"] == "script" and config["config"] == {"lr": 0.1,
                                                                  "path": str(tmp_path)}
    events = events_of(run_dir)
    started = of(events, RunStarted)[0]
    assert (started.model_name, started.parameter_count, started.dataset_name) == (
        "Linear", 15, "toy")
    progress = of(events, Progress)
    assert progress and progress[0].metrics["grad_norm"] == pytest.approx(2.0)
    steps = [s for p in progress for s, _ in p.step_losses]
    assert steps == sorted(steps) and steps[-1] == 10
    epochs = of(events, EpochEnded)
    assert [e.epoch for e in epochs] == [1, 2]
    assert epochs[0].train_loss == pytest.approx(sum(1 / (1 + i) for i in range(5)) / 5)
    assert (epochs[1].val_loss, epochs[1].val_acc, epochs[1].train_acc) == (0.4, 0.75, 0.5)
    assert epochs[1].metrics == {"grad_norm": 2.0, "val_ppl": 1.5}  # grad_norm: epoch mean
    assert epochs[1].samples_per_second > 0
    finished = of(events, Finished)[-1]
    assert finished.cause == "completed" and finished.confusion_matrix[2] == [0, 1, 1]
    assert finished.class_names == ["a", "b", "c"]
    header = (run_dir / "history.csv").read_text().splitlines()[0]
    assert header.endswith(",samples_per_second,grad_norm,val_ppl")
    assert json.loads((run_dir / "metrics.json").read_text())["accuracy"] == 0.75
    assert list_run(run_dir).state is RunState.FINISHED


def test_log_reads_tensors_only_at_throttle_points(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No host-device read per step: between throttle points a logged tensor is only kept;
    at one, every pending value is read with one copy per device."""
    reads: list[str] = []
    for name in ("item", "tolist", "__float__", "__bool__", "__int__", "cpu", "numpy"):
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            reads.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    run = trainui.init(run_dir=tmp_path / "run", epochs=1, progress_interval=3600,
                       handle_signals=False)
    for step in range(200):
        run.log({"loss": torch.tensor(float(step)), "acc": torch.tensor(0.5),
                 "grad_norm": torch.tensor(1.0)})
    assert reads == []
    run.end_epoch()
    assert reads == ["tolist"]  # 600 values, one read
    run.finish()
    steps = [s for p in of(events_of(tmp_path / "run"), Progress) for s, _ in p.step_losses]
    assert len(steps) <= 64 and steps[-1] == 200  # binned to a bounded event


def script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(body))
    return path


LOOP = """
    import sys, time, torch, trainui
    from pathlib import Path

    def save():
        path = Path(run.run_dir) / "ckpt.pt"
        torch.save({"step": run.global_step}, path)
        return path

    run = trainui.init(epochs=3, steps_per_epoch=400, run_dir=sys.argv[1], save=save,
                       progress_interval=0.05)
    for epoch in range(3):
        for step in range(400):
            time.sleep(0.005)
            run.log({"loss": torch.tensor(1.0), "lr": 0.01})
            if run.stop_requested:
                break
        run.end_epoch({"val_loss": 0.5})
        if run.stop_requested:
            break
    run.finish()
"""


def wait_for(run_dir: Path, kind: type, timeout: float = 60.0, after: int = 0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = of(events_of(run_dir), kind) if (run_dir / EVENT_LOG).exists() else []
        if len(found) > after:
            return found[after]
        time.sleep(0.05)
    raise AssertionError(f"no {kind.__name__} within {timeout}s")


@pytest.mark.slow
def test_a_script_obeys_pause_save_and_stop_from_another_process(tmp_path: Path) -> None:
    """Pause blocks `run.log` (no steps while paused), save calls the script's save
    function at a step boundary, stop ends the run as stopped."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(script(tmp_path, LOOP)), str(run_dir)],
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(run_dir, Progress)
        send_request(run_dir, "pause")
        paused = wait_for(run_dir, Paused)
        time.sleep(0.5)
        assert load_summary(run_dir).state(trainer_alive=True) is RunState.PAUSED
        progress = of(events_of(run_dir), Progress)
        assert progress[-1].global_step == paused.global_step  # no step while paused
        send_request(run_dir, "save")  # a paused run saves at once
        saved = wait_for(run_dir, CheckpointSaved)
        assert saved.reason == "requested" and saved.global_step == paused.global_step
        assert torch.load(saved.path)["step"] == paused.global_step
        send_request(run_dir, "resume")
        resumed = wait_for(run_dir, Resumed)
        assert resumed.paused_seconds >= 0.5
        send_request(run_dir, "stop_now")
        assert process.wait(timeout=60) == 0, process.stderr.read()
    finally:
        process.kill()
        process.wait()
    events = events_of(run_dir)
    assert of(events, StopRequested)[0].mode == "now"
    finished = of(events, Finished)[-1]
    assert finished.cause == "user" and "stopped by request" in finished.reason
    assert list_run(run_dir).state is RunState.STOPPED


@pytest.mark.slow
def test_sigterm_saves_and_stops_a_script(tmp_path: Path) -> None:
    """The first SIGTERM asks the script to save and stop, as for `trainui train`."""
    run_dir = tmp_path / "run"
    process = subprocess.Popen([sys.executable, str(script(tmp_path, LOOP)), str(run_dir)],
                               stderr=subprocess.PIPE, text=True)
    try:
        wait_for(run_dir, Progress)
        process.terminate()
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait()
    events = events_of(run_dir)
    assert of(events, CheckpointSaved) and of(events, StopRequested)[0].source == "SIGTERM"
    assert of(events, Finished)[-1].cause == "user"


def test_stop_after_epoch_is_seen_after_end_epoch(tmp_path: Path) -> None:
    run = trainui.init(run_dir=tmp_path / "run", epochs=5, handle_signals=False)
    run.log({"loss": 1.0})
    run.control.request_stop("epoch")
    run.log({"loss": 1.0})
    assert not run.stop_requested  # the epoch goes on
    run.end_epoch()
    assert run.stop_requested
    run.finish()
    finished = of(events_of(tmp_path / "run"), Finished)[-1]
    assert (finished.cause, finished.reason) == ("user", "stopped by request after epoch 1")


def test_save_requested_until_saved(tmp_path: Path) -> None:
    """Without a save function, the request waits for the script to answer it."""
    run = trainui.init(run_dir=tmp_path / "run", epochs=1, handle_signals=False)
    assert not run.save_requested
    run.control.request_save()
    run.log({"loss": 1.0})
    assert run.save_requested
    run.saved(tmp_path / "mine.pt")
    assert not run.save_requested
    run.finish()
    saved = of(events_of(tmp_path / "run"), CheckpointSaved)
    assert [(s.reason, Path(s.path).name) for s in saved] == [("requested", "mine.pt")]


def test_a_failing_script_marks_the_run_failed_with_its_traceback(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with pytest.raises(ZeroDivisionError):
        with trainui.init(run_dir=run_dir, epochs=1, handle_signals=False) as run:
            run.log({"loss": 1.0})
            1 / 0  # noqa: B018
    failed = of(events_of(run_dir), Failed)[-1]
    assert failed.message.startswith("ZeroDivisionError: division by zero")
    assert "1 / 0" in (run_dir / "error.log").read_text()
    listing = list_run(run_dir)
    assert listing.state is RunState.FAILED and "ZeroDivisionError" in listing.note


@pytest.mark.slow
def test_an_uncaught_error_without_with_fails_the_run_too(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    body = """
        import sys, trainui
        run = trainui.init(run_dir=sys.argv[1], epochs=1)
        run.log({"loss": 1.0})
        raise RuntimeError("out of memory, say")
    """
    result = subprocess.run([sys.executable, str(script(tmp_path, body)), str(run_dir)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "RuntimeError: out of memory, say" in result.stderr
    assert of(events_of(run_dir), Failed)[-1].message.startswith("RuntimeError: out of memory")
    assert "Traceback" in (run_dir / "error.log").read_text()


@pytest.mark.slow
def test_a_script_that_ends_without_finish_is_finished(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    body = """
        import sys, trainui
        run = trainui.init(run_dir=sys.argv[1], epochs=1)
        run.log({"loss": 1.0})
        run.end_epoch()
    """
    result = subprocess.run([sys.executable, str(script(tmp_path, body)), str(run_dir)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert of(events_of(run_dir), Finished)[-1].cause == "completed"


def test_wrong_calls_are_clear_errors_and_the_log_stays_valid(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run = trainui.init(run_dir=run_dir, epochs=1, handle_signals=False, progress_interval=1e-6)
    with pytest.raises(TypeError, match="'loss' must be a number or a one-element tensor"):
        run.log({"loss": "low"})
    with pytest.raises(ValueError, match=r"'loss' must be one number, got a tensor of shape"):
        run.log({"loss": torch.ones(3)})
    with pytest.raises(TypeError, match="must be a dict"):
        run.log([1.0])  # type: ignore[arg-type]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run.log({"loss": float("nan"), "ppl": torch.tensor(float("inf"))})
        run.log({"loss": 1.0, "ppl": 3.0})
    assert any("loss was not finite at step 1" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match="before step"):
        run.log({"loss": 1.0}, step=1)
    with pytest.warns(RuntimeWarning, match="val_loss is nan"):
        run.end_epoch({"val_loss": float("nan")})
    run.finish()
    with pytest.raises(RuntimeError, match="after the run ended"):
        run.log({"loss": 1.0})
    def strict(name: str) -> None:
        pytest.fail(f"{name} in events.jsonl")

    for line in (run_dir / EVENT_LOG).read_text().splitlines():
        json.loads(line, parse_constant=strict)
    epoch = of(events_of(run_dir), EpochEnded)[0]
    assert epoch.train_loss == 1.0 and epoch.val_loss is None


def test_init_refuses_a_directory_that_is_not_new(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("mine")
    with pytest.raises(trainui.TrainuiError, match="not empty"):
        trainui.init(run_dir=tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "mine"


def test_init_writes_into_the_directory_trainui_run_prepared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prepared = create_run_dir(tmp_path / "prepared")
    monkeypatch.setenv(RUN_DIR_ENV, str(prepared))
    with trainui.init(epochs=1, handle_signals=False) as run:
        assert run.run_dir == prepared
        assert RUN_DIR_ENV not in os.environ  # a second init makes its own run
    assert of(events_of(prepared), Finished)


def test_early_stopping_reported_by_the_script(tmp_path: Path) -> None:
    with trainui.init(run_dir=tmp_path / "run", epochs=5, handle_signals=False) as run:
        for wait in (0, 1, 2):
            run.log({"loss": 1.0})
            run.end_epoch({"val_loss": 1.0})
            run.early_stopping(monitor="val_loss", value=1.0, best=0.9, best_epoch=1,
                               wait_count=wait, patience=2, stopping=wait == 2)
    events = events_of(tmp_path / "run")
    assert [e.wait_count for e in of(events, EarlyStoppingUpdated)] == [0, 1, 2]
    finished = of(events, Finished)[-1]
    assert finished.cause == "early_stopping" and finished.best_epoch == 1
    assert list_run(tmp_path / "run").state is RunState.STOPPED


def test_a_script_run_is_not_resumed_by_trainui_train(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    with trainui.init(run_dir=run_dir, epochs=1, handle_signals=False) as run:
        run.log({"loss": 1.0})
    result = run_trainui(["train", "--headless", "--resume", run_dir])
    assert result.returncode == 2
    assert "trained by code of your own" in result.stderr
    assert "Traceback" not in result.stderr


def test_paused_time_is_not_in_the_epoch_time(tmp_path: Path) -> None:
    """A script's epoch paused for 1 s records its time and samples/s without the pause."""
    run = trainui.init(run_dir=tmp_path / "run", epochs=1, batch_size=10,
                       handle_signals=False)
    run.log({"loss": 1.0})
    run.control.pause()
    threading.Timer(1.0, run.control.resume).start()
    run.log({"loss": 0.5})  # waits out the pause
    run.end_epoch({"val_loss": 0.5})
    run.finish()
    events = events_of(tmp_path / "run")
    assert of(events, Resumed)[0].paused_seconds >= 0.9
    epoch = of(events, EpochEnded)[0]
    assert epoch.epoch_time < 0.5 and epoch.samples_per_second > 20 / 0.5


def test_a_paused_run_blocks_log_until_resumed(tmp_path: Path) -> None:
    run = trainui.init(run_dir=tmp_path / "run", epochs=1, handle_signals=False)
    run.control.pause()
    done = threading.Event()

    def step() -> None:
        run.log({"loss": 1.0})
        done.set()

    thread = threading.Thread(target=step)
    thread.start()
    assert not done.wait(0.3)
    run.control.resume()
    assert done.wait(5)
    thread.join()
    run.finish()
    kinds = [e.kind for e in events_of(tmp_path / "run")]
    assert kinds.index("paused") < kinds.index("resumed")
    assert math.isclose(of(events_of(tmp_path / "run"), Progress)[0].train_loss, 1.0)


def test_a_save_taken_with_the_pause_is_left_to_a_caller_that_saves(tmp_path: Path) -> None:
    """A framework that saves after the step (leave_pause_to_save): a pause and a save
    that arrive together make `log` return at once, still paused, the save pending; the
    framework's save is confirmed, and the next call waits until resumed."""
    run = trainui.init(run_dir=tmp_path / "run", epochs=1, steps_per_epoch=10,
                       handle_signals=False)
    run.leave_pause_to_save = True
    run.log({"loss": 1.0})
    run.control.pause()
    run.control.request_save()
    returned = threading.Event()
    thread = threading.Thread(target=lambda: (run.log({"loss": 0.5}), returned.set()))
    thread.start()
    assert returned.wait(10)  # no deadlock: the save is the caller's to do
    thread.join()
    assert run.paused and run.save_requested
    checkpoint = tmp_path / "checkpoint-2"
    checkpoint.mkdir()
    run.saved(checkpoint)
    # Paused in the framework's save hook: a save asked for there is that checkpoint.
    waited = threading.Event()
    thread = threading.Thread(target=lambda: (run.handle_requests(checkpoint=checkpoint),
                                              waited.set()))
    thread.start()
    assert not waited.wait(0.3)  # still paused
    run.control.request_save()
    deadline = time.monotonic() + 10
    while len(of(events_of(tmp_path / "run"), CheckpointSaved)) < 2:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert not waited.is_set()
    run.control.resume()
    assert waited.wait(10)
    thread.join()
    run.finish()
    saved = of(events_of(tmp_path / "run"), CheckpointSaved)
    assert [(e.reason, e.global_step) for e in saved] == [("requested", 2), ("requested", 2)]
    assert {e.path for e in saved} == {str(checkpoint)}


def test_a_loop_that_only_breaks_its_step_loop_stops_recording(tmp_path: Path) -> None:
    """A script that checks stop_requested only in its step loop goes on through its
    epochs; its record ends at the stop, and a warning says how to break out."""
    run = trainui.init(run_dir=tmp_path / "run", epochs=5, handle_signals=False)
    with pytest.warns(RuntimeWarning, match="break out of the epoch loop"):
        for epoch in range(5):
            for _ in range(3):
                run.log({"loss": 1.0})
                if epoch == 1:
                    run.control.request_stop("now")
                if run.stop_requested:
                    break
            run.end_epoch({"val_loss": 1.0})
    run.finish()
    events = events_of(tmp_path / "run")
    assert [e.epoch for e in of(events, EpochEnded)] == [1, 2]
    assert of(events, Finished)[-1].reason == "stopped by request at step 4"


@pytest.mark.slow
def test_a_script_that_exits_with_a_failure_status_fails_its_run(tmp_path: Path) -> None:
    """sys.exit(3) outside a `with` block: the run is failed, not finished."""
    run_dir = tmp_path / "run"
    body = """
        import sys, trainui
        run = trainui.init(run_dir=sys.argv[1], epochs=2)
        run.log({"loss": 1.0})
        run.end_epoch()
        sys.exit(3)
    """
    result = subprocess.run([sys.executable, str(script(tmp_path, body)), str(run_dir)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 3, result.stderr
    failed = of(events_of(run_dir), Failed)[-1]
    assert failed.message.startswith("the script exited with status 3")
    assert list_run(run_dir).state is RunState.FAILED


def test_a_loop_without_steps_pauses_at_its_epoch_ends(tmp_path: Path) -> None:
    """A script that only ends epochs: the pause waits in end_epoch; its epochs are the x
    axis of its charts (there are no steps)."""
    run = trainui.init(run_dir=tmp_path / "run", epochs=3, handle_signals=False)
    run.control.pause()
    done = threading.Event()

    def epoch() -> None:
        run.end_epoch({"val_loss": 0.5})
        done.set()

    thread = threading.Thread(target=epoch)
    thread.start()
    assert not done.wait(0.3)
    run.control.resume()
    assert done.wait(5)
    thread.join()
    run.end_epoch({"val_loss": 0.4})
    run.finish()
    events = events_of(tmp_path / "run")
    assert [e.global_step for e in of(events, EpochEnded)] == [1, 2]
    assert of(events, Paused) and of(events, Resumed)


def test_early_stopping_best_follows_the_values(tmp_path: Path) -> None:
    """Without `best=`, the best is the value of the last improvement."""
    with trainui.init(run_dir=tmp_path / "run", epochs=3, handle_signals=False) as run:
        for value, wait in ((0.5, 0), (0.6, 1), (0.7, 2)):
            run.end_epoch({"val_loss": value})
            run.early_stopping(monitor="val_loss", value=value, wait_count=wait, patience=3)
        with pytest.raises(ValueError, match="patience >= 1"):
            run.early_stopping(monitor="val_loss", value=0.1, wait_count=0, patience=0)
    updates = of(events_of(tmp_path / "run"), EarlyStoppingUpdated)
    assert [(u.best, u.best_epoch) for u in updates] == [(0.5, 1), (0.5, 1), (0.5, 1)]
