"""Checkpoints written off the training thread: training goes on while a file is written,
one snapshot at a time, every file whole after kill -9, nothing pending when a run ends,
and a write error (a full disk) ends the run with one line, earlier checkpoints intact."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from conftest import Processes
from core_fixtures import FullDisk, Recorder
from trainui.core import Checkpointing, Control, fit
from trainui.core.background_writer import BackgroundWriter, host_copy
from trainui.core.checkpoint import load_checkpoint
from trainui.core.config import RunConfig
from trainui.core.errors import RunFailed
from trainui.core.events import CheckpointSaved, EpochEnded, Failed, Finished, Progress
from trainui.core.files import FileWriter
from trainui.core.job import run_training


def tiny_data(n: int = 64, seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=generator)
    y = (x[:, 0] > 0).long()
    return [(x[i:i + 8], y[i:i + 8]) for i in range(0, n, 8)]


class GatedWriter(FileWriter):
    """A FileWriter whose writes of checkpoint files wait until the test opens the gate."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.started = threading.Event()
        self.threads: set[str] = set()

    def write_bytes(self, relative: str, data: bytes) -> Path:
        self.threads.add(threading.current_thread().name)
        self.started.set()
        assert self.gate.wait(30)
        return super().write_bytes(relative, data)


def test_host_copy_is_not_changed_by_later_training() -> None:
    model = nn.Linear(3, 2)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    copy = host_copy({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                      "list": [torch.zeros(1)], "pair": (1, "a")})
    before = copy["model"]["weight"].clone()
    state_before = copy["optimizer"]["state"][0]["exp_avg"].clone()
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    assert torch.equal(copy["model"]["weight"], before)
    assert torch.equal(copy["optimizer"]["state"][0]["exp_avg"], state_before)
    assert not torch.equal(model.weight.detach(), before)
    assert copy["pair"] == (1, "a")


def test_training_goes_on_while_a_checkpoint_is_written(tmp_path: Path) -> None:
    """The first epoch's snapshot is held at the gate: the second epoch trains meanwhile,
    its save waits for the first (one snapshot at a time), and CheckpointSaved comes only
    once a file is on disk."""
    checkpointing = Checkpointing(tmp_path, final_weights=None, restore_best=False)
    gated = GatedWriter(tmp_path)
    checkpointing.writer = gated
    checkpointing.files = BackgroundWriter(gated)
    recorder = Recorder()
    trained_while_writing = []

    def sink(event: object) -> None:
        recorder(event)
        if isinstance(event, Progress) and event.epoch == 2:
            assert gated.started.wait(10)  # epoch 1's write has reached the gate
            trained_while_writing.append(event.global_step)
            if event.step == event.steps_per_epoch:
                gated.gate.set()  # the whole second epoch trained with the write pending

    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    fit(model, tiny_data(), tiny_data(seed=1), nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, callbacks=[checkpointing],
        sinks=[sink], progress_interval=0)
    assert trained_while_writing[-1] == 16  # epoch 2 ran to its end before the gate opened
    assert gated.threads == {"trainui-checkpoint-writer"}
    kinds = [type(e).__name__ for e in recorder.events]
    first_saved = kinds.index("CheckpointSaved")
    assert first_saved > kinds.index("EpochEnded") + 1  # not at once: after the gate
    saved = recorder.of(CheckpointSaved)
    assert [(e.reason, e.epoch) for e in saved] == [("best", 1), ("last", 1), ("best", 2),
                                                     ("last", 2)]
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 2
    assert kinds.index("Finished") > kinds.index("CheckpointSaved")


def test_a_fit_that_ends_with_a_write_pending_has_it_on_disk(tmp_path: Path) -> None:
    slow = SlowWriter(tmp_path, delay=0.4)
    checkpointing = Checkpointing(tmp_path, final_weights=None, restore_best=False)
    checkpointing.writer, checkpointing.files = slow, BackgroundWriter(slow)
    recorder = Recorder()
    model = nn.Sequential(nn.Linear(4, 2))
    fit(model, tiny_data(), tiny_data(seed=1), nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, callbacks=[checkpointing],
        sinks=[recorder])
    assert load_checkpoint(tmp_path / "last.pt")["epoch"] == 1
    assert [e.reason for e in recorder.of(CheckpointSaved)] == ["best", "last"]
    assert isinstance(recorder.events[-1], Finished)


def test_a_paused_run_confirms_a_requested_save_while_paused(tmp_path: Path) -> None:
    control = Control()
    recorder = Recorder()
    saved_while_paused = threading.Event()

    def sink(event: object) -> None:
        recorder(event)
        if isinstance(event, Progress) and event.global_step == 3 and not control.paused:
            control.pause()
            control.request_save()
        if isinstance(event, CheckpointSaved) and control.paused:
            saved_while_paused.set()
            control.resume()

    slow = SlowWriter(tmp_path, delay=0.2)
    checkpointing = Checkpointing(tmp_path, final_weights=None, restore_best=False)
    checkpointing.writer, checkpointing.files = slow, BackgroundWriter(slow)
    model = nn.Sequential(nn.Linear(4, 2))
    fit(model, tiny_data(), tiny_data(seed=1), nn.CrossEntropyLoss(),
        torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, callbacks=[checkpointing],
        sinks=[sink], control=control, progress_interval=0)
    assert saved_while_paused.is_set()
    assert (tmp_path / "saved-step-00000003.pt").exists()


class SlowWriter(FileWriter):
    def __init__(self, root: Path, delay: float) -> None:
        super().__init__(root)
        self.delay = delay

    def write_bytes(self, relative: str, data: bytes) -> Path:
        time.sleep(self.delay)
        return super().write_bytes(relative, data)


def test_a_write_error_stops_training_and_keeps_earlier_checkpoints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills during epoch 3's last.pt: the run fails with a Failed event naming
    the file, training stops (no epoch 5), and the files already written still load."""
    import trainui.core.callbacks.checkpointing as checkpointing_module

    class FullAfterFive(BackgroundWriter):
        def __init__(self, writer: FileWriter, **options: bool) -> None:
            super().__init__(FullDisk(writer.root, room=5), **options)

    monkeypatch.setattr(checkpointing_module, "BackgroundWriter", FullAfterFive)
    recorder = Recorder()
    config = RunConfig(model="mlp", epochs=8, patience=8, seed=3, scheduler="none",
                       run_dir=str(tmp_path / "run"), device="cpu")
    with pytest.raises(RunFailed) as failed:
        run_training(config, [recorder])
    last = tmp_path / "run" / "checkpoints" / "last.pt"
    message = str(failed.value)
    assert message.startswith(f"disk full writing {last}: no space left on device"), message
    assert isinstance(recorder.events[-1], Failed) and recorder.events[-1].message == message
    assert max(e.epoch for e in recorder.of(EpochEnded)) <= 4  # stopped soon after
    for path in (tmp_path / "run" / "checkpoints").glob("*.pt"):
        assert "model_state_dict" in load_checkpoint(path)
    assert not list((tmp_path / "run" / "checkpoints").glob(".*.tmp"))


# Imported by the trainer process: checkpoint temp files are written slowly, in chunks, so
# a kill from outside lands in the middle of a background write.
SLOW_WRITE_HOOK = '''
import os, time
real_fdopen = os.fdopen
def fdopen(fd, mode="r", *args, **kwargs):
    handle = real_fdopen(fd, mode, *args, **kwargs)
    name = os.readlink(f"/proc/self/fd/{fd}") if "w" in mode else ""
    if name.endswith(".tmp") and ".pt." in name:
        open(name + ".writing", "w").close()
        real = handle.write
        def slow_write(data):
            view = memoryview(data)
            for start in range(0, len(view), 16384):
                real(view[start:start + 16384])
                time.sleep(0.005)
            return len(view)
        handle.write = slow_write
    return handle
os.fdopen = fdopen
'''


@pytest.mark.slow
def test_kill_during_a_background_write_leaves_whole_files(tmp_path: Path,
                                                           processes: Processes) -> None:
    """Epoch 1 writes best.pt and last.pt; the kill lands inside epoch 2's best.pt."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_WRITE_HOOK)
    run_dir = processes.own_run(tmp_path / "run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(hook), os.environ.get("PYTHONPATH")]))}
    process = processes.trainui(["train", "--headless", "--epochs", "6", "--patience", "6",
                                 "--scheduler", "none", "--run-dir", run_dir], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoints = run_dir / "checkpoints"
    deadline = time.monotonic() + 120
    while len(list(checkpoints.glob("*.writing")) if checkpoints.exists() else []) < 3:
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    written = sorted(checkpoints.glob("*.pt"))
    assert [p.name for p in written] == ["best.pt", "last.pt"]
    for path in written:
        assert load_checkpoint(path)["epoch"] == 1  # whole, and the old one
    assert list(checkpoints.glob(".*.tmp"))  # the write it interrupted was under way
