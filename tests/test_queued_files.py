"""summary.json and history.csv written off the training thread: the newest content of each
file wins, everything queued is on disk when a run returns, and a write error (a full disk)
fails the run with one line naming the file."""

from __future__ import annotations

import csv
import errno
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import trainui
import trainui.core.run_files as run_files
import trainui.core.run_summary as run_summary
from core_fixtures import FullDisk, Recorder
from trainui.core.config import RunConfig
from trainui.core.errors import RunFailed
from trainui.core.events import EpochEnded, Failed
from trainui.core.files import FileWriter
from trainui.core.job import run_training
from trainui.core.queued_files import QueuedFiles


class GatedWriter(FileWriter):
    """Writes wait at a gate the test opens; records each write and its thread."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.reached = threading.Event()
        self.writes: list[tuple[str, bytes, str]] = []

    def write_bytes(self, relative: str, data: bytes) -> Path:
        self.reached.set()
        assert self.gate.wait(30)
        self.writes.append((relative, data, threading.current_thread().name))
        return super().write_bytes(relative, data)


def write_on(monkeypatch: pytest.MonkeyPatch, module: ModuleType,
             disk: Callable[[Path], FileWriter]) -> None:
    """The writer queues `module` makes write to `disk(run directory)` instead."""

    class OnDisk(QueuedFiles):
        def __init__(self, writer: FileWriter, **options: object) -> None:
            super().__init__(disk(writer.root))

    monkeypatch.setattr(module, "QueuedFiles", OnDisk)


def test_the_newest_content_of_a_file_replaces_what_was_not_written(tmp_path: Path) -> None:
    gated = GatedWriter(tmp_path)
    files = QueuedFiles(gated, name="test-writer")
    files.put("a.json", lambda: b"1")
    assert gated.reached.wait(10)  # "1" is being written; the next three wait
    for content in (b"2", b"3", b"4"):
        files.put("a.json", lambda content=content: content)
    files.put("b.csv", lambda: b"x")
    gated.gate.set()
    files.flush()
    assert [(name, data) for name, data, _ in gated.writes] == [
        ("a.json", b"1"), ("a.json", b"4"), ("b.csv", b"x")]
    assert {thread for _, _, thread in gated.writes} == {"test-writer"}
    assert (tmp_path / "a.json").read_bytes() == b"4"
    files.close()
    files.put("a.json", lambda: b"5")  # a closed queue starts again
    files.close()
    assert (tmp_path / "a.json").read_bytes() == b"5"


def test_an_error_is_raised_on_the_callers_thread_and_nothing_more_is_written(
        tmp_path: Path) -> None:
    files = QueuedFiles(FullDisk(tmp_path, room=1))
    files.put("history.csv", lambda: b"epoch\n1\n")
    files.flush()
    files.put("history.csv", lambda: b"epoch\n1\n2\n")
    with pytest.raises(OSError) as raised:
        files.flush()
    assert raised.value.errno == errno.ENOSPC
    assert raised.value.filename == str(tmp_path / "history.csv")
    files.put("history.csv", lambda: b"later")
    files.close()
    assert (tmp_path / "history.csv").read_bytes() == b"epoch\n1\n"  # the last whole file
    assert not list(tmp_path.glob(".*.tmp"))


def test_without_background_a_put_writes_at_once(tmp_path: Path) -> None:
    files = QueuedFiles(FileWriter(tmp_path), background=False)
    files.put("a.txt", lambda: b"now")
    assert (tmp_path / "a.txt").read_bytes() == b"now"


def test_a_run_returns_with_its_summary_and_history_on_disk(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    config = RunConfig(model="mlp", epochs=3, patience=3, seed=0, scheduler="none",
                       run_dir=str(run_dir), device="cpu")
    run_training(config, [])
    with (run_dir / "history.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2", "3"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["events_offset"] == (run_dir / "events.jsonl").stat().st_size
    assert summary["latest"][-1]["kind"] == "finished"
    assert (run_dir / "metrics.json").exists()


def failed_run(tmp_path: Path, **options: int) -> tuple[Path, Recorder, str]:
    """An MLP run that must fail: its directory, its events, the RunFailed message."""
    recorder = Recorder()
    run_dir = tmp_path / "run"
    config = RunConfig(model="mlp", scheduler="none", run_dir=str(run_dir), device="cpu",
                       **options)
    with pytest.raises(RunFailed) as failed:
        run_training(config, [recorder])
    return run_dir, recorder, str(failed.value)


def test_a_full_disk_writing_history_fails_the_run_and_keeps_earlier_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_on(monkeypatch, run_files, lambda root: FullDisk(root, room=2))
    run_dir, recorder, message = failed_run(tmp_path, epochs=8, patience=8, seed=3)
    assert message.startswith(f"disk full writing {run_dir / 'history.csv'}: "
                              "no space left on device"), message
    assert isinstance(recorder.events[-1], Failed) and recorder.events[-1].message == message
    assert max(e.epoch for e in recorder.of(EpochEnded)) <= 4  # stopped soon after
    with (run_dir / "history.csv").open() as handle:
        assert [row["epoch"] for row in csv.DictReader(handle)] == ["1", "2"]
    events = (run_dir / "events.jsonl").read_text().splitlines()
    assert json.loads(events[-1])["kind"] == "failed"


class RefusesFinished(FileWriter):
    """A disk that fills just as the final summary.json (the one saying finished) comes."""

    def write_bytes(self, relative: str, data: bytes) -> Path:
        if b'"kind":"finished"' in data:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write_bytes(relative, data)


def test_a_full_disk_writing_the_last_summary_fails_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_on(monkeypatch, run_summary, RefusesFinished)
    run_dir, recorder, message = failed_run(tmp_path, epochs=1, patience=1, seed=0)
    assert message.startswith(f"disk full writing {run_dir / 'summary.json'}")
    assert isinstance(recorder.events[-1], Failed)
    assert json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])["kind"] == "failed"


def full_history(monkeypatch: pytest.MonkeyPatch) -> None:
    write_on(monkeypatch, run_files, lambda root: FullDisk(root, room=0))


def test_your_scripts_error_is_the_one_raised_when_history_cannot_be_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The script fails while history.csv's write is still failing in the background: the
    script's own error comes out, and the run is failed with it."""
    full_history(monkeypatch)
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="a bug in the script"):
        with trainui.init(run_dir=run_dir, epochs=2, handle_signals=False) as run:
            run.log({"loss": 1.0})
            run.end_epoch({"val_loss": 1.0})
            raise ValueError("a bug in the script")
    last = json.loads((run_dir / "events.jsonl").read_text().splitlines()[-1])
    assert last["kind"] == "failed" and "a bug in the script" in last["message"]


def test_a_run_whose_history_cannot_be_written_ends_failed_not_finished(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full_history(monkeypatch)
    run_dir = tmp_path / "run"
    with pytest.raises(OSError) as raised:
        with trainui.init(run_dir=run_dir, epochs=1, handle_signals=False) as run:
            run.log({"loss": 1.0})
            run.end_epoch({"val_loss": 1.0})
    assert raised.value.errno == errno.ENOSPC
    assert run._finished  # closed: nothing more is written when the script exits
    kinds = [json.loads(line)["kind"]
             for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert kinds[-1] == "failed" and kinds.count("training_stopped") == 1
