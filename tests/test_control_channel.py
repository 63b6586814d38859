"""The FIFO control channel between watchers and a training process."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from trainui.core.control import Control
from trainui.core.control_channel import (
    MAX_VALUE_BYTES,
    READ_SIZE,
    ControlChannel,
    RemoteControl,
    RequestReader,
    apply_request,
    send_request,
)
from trainui.core.errors import TrainuiError
from trainui.core.events import Paused


def wait_for(predicate, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def test_requests_reach_the_control(tmp_path: Path) -> None:
    control = Control()
    channel = ControlChannel(tmp_path, control)
    try:
        assert (os.stat(channel.path).st_mode & 0o777) == 0o600
        send_request(tmp_path, "pause")
        assert wait_for(lambda: control.paused)
        remote = RemoteControl(tmp_path)
        remote.observe(Paused(epoch=1, global_step=1))
        assert remote.toggle_pause() is False  # it was paused: resume
        assert wait_for(lambda: not control.paused)
        remote.request_save()
        assert wait_for(control.take_save_request)
        remote.request_stop("now")
        assert wait_for(lambda: control.stop_mode == "now")
    finally:
        channel.close()
    assert not channel.path.exists()


def test_no_trainer_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrainuiError, match="not training"):
        send_request(tmp_path, "pause")
    os.mkfifo(tmp_path / "control", 0o600)  # stale channel: its process was killed
    with pytest.raises(TrainuiError, match="not training"):
        send_request(tmp_path, "pause")
    with pytest.raises(TrainuiError, match="not training"):
        RemoteControl(tmp_path).pause()


def test_unknown_request_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TrainuiError, match="unknown request"):
        send_request(tmp_path, "reboot")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_is_refused(shared_tmp: Path) -> None:
    run_dir = shared_tmp / "run"
    run_dir.mkdir(mode=0o700)
    control = Control()
    channel = ControlChannel(run_dir, control)
    try:
        # The interpreter itself may be out of another user's reach, so the other user
        # writes with the shell, as any process of theirs could.
        result = subprocess.run(["/bin/sh", "-c", f"printf 'stop_now\\n' > {channel.path}"],
                                user=65534, capture_output=True, text=True, timeout=30)
        assert result.returncode != 0
        assert "Permission denied" in result.stderr
        time.sleep(0.1)
        assert control.stop_mode is None
    finally:
        channel.close()


# --- framing: garbage never swallows a request, and costs O(n) -----------------------------


@pytest.mark.parametrize("stream, requests", [
    (b"pause\n", ["pause"]),
    (b"\npause\n\n", ["pause"]),
    (b"xxxxpause\n", ["pause"]),  # a partial line left before the request
    (b"resume\nsave\nstop_now\n", ["resume", "save", "stop_now"]),
    (b"pause \nPAUSE\nreboot\n\xff\xfe\n", []),  # lines that end in no request word
    (b"toggle_pause\n", ["toggle_pause"]),  # never read as `pause`
    (b"save\nsave\n\nsave\n", ["save"]),  # a repeated request counts once...
    (b"toggle_pause\ntoggle_pause\n", []),  # ... a toggle by its parity
    (b"toggle_pause\ntoggle_pause\ntoggle_pause\n", ["toggle_pause"]),
    (b"pause\nresume\npause\n", ["pause", "resume", "pause"]),
    (b"pau", []),  # not a line yet
], ids=repr)
def test_a_line_asks_for_the_request_it_ends_with(stream: bytes, requests: list[str]) -> None:
    assert RequestReader().feed(stream) == requests


def test_lines_may_arrive_in_pieces() -> None:
    reader = RequestReader()
    assert reader.feed(b"garbage sto") == []
    assert reader.feed(b"p_n") == []
    assert reader.feed(b"ow\nsa") == ["stop_now"]
    assert reader.feed(b"ve\n") == ["save"]


def test_an_endless_line_is_never_kept() -> None:
    """20 MB without a newline: nothing accumulates, and the request after it still counts."""
    reader = RequestReader()
    chunk = b"x" * READ_SIZE
    for _ in range(20_000_000 // READ_SIZE):
        assert reader.feed(chunk) == []
        assert len(reader._tail) <= len("scale_lr ") + MAX_VALUE_BYTES
    assert reader.feed(b"pause\n") == ["pause"]


@pytest.mark.slow
def test_a_flood_then_a_request_from_another_writer(tmp_path: Path) -> None:
    """What `head -c 20000000 /dev/zero | tr '\\0' x > RUN/control` did to a run: the reader
    drains it, and the pause another writer sends after a partial line is honoured."""
    control = Control()
    channel = ControlChannel(tmp_path, control)
    try:
        flood = (f"head -c 20000000 /dev/zero | tr '\\0' x > {channel.path}; "
                 f"printf 'half a line' > {channel.path}; echo pause > {channel.path}")
        subprocess.run(["/bin/sh", "-c", flood], check=True, timeout=120)
        assert wait_for(lambda: control.paused, timeout=60)
    finally:
        channel.close()


def test_requests_are_whole_lines_whatever_came_before(tmp_path: Path) -> None:
    """A writer that died after `toggle_` cannot turn trainui's `pause` into a toggle."""
    control = Control()
    control.pause()
    channel = ControlChannel(tmp_path, control)
    try:
        fd = os.open(channel.path, os.O_WRONLY | os.O_NONBLOCK)
        os.write(fd, b"toggle_")
        os.close(fd)
        send_request(tmp_path, "pause")
        send_request(tmp_path, "save")
        assert wait_for(lambda: control.pending and control.take_save_request())
        assert control.paused
    finally:
        channel.close()


def test_a_full_channel_is_a_clear_error(tmp_path: Path) -> None:
    """Nobody drains the FIFO (a trainer hung in a system call): sending gives up with a line."""
    os.mkfifo(tmp_path / "control", 0o600)
    holder = os.open(tmp_path / "control", os.O_RDWR | os.O_NONBLOCK)  # opened, never read
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(holder, b"x" * 4096)
        with pytest.raises(TrainuiError, match="stays full"):
            send_request(tmp_path, "pause")
    finally:
        os.close(holder)


# --- what a run directory may hold at RUN/control --------------------------------------------


def test_a_stale_regular_file_makes_way_for_the_channel(tmp_path: Path) -> None:
    """`echo pause > RUN/control` while no trainer ran leaves a regular file: a resumed
    trainer replaces it instead of running without control."""
    (tmp_path / "control").write_text("pause\n")
    control = Control()
    channel = ControlChannel(tmp_path, control)
    try:
        assert stat.S_ISFIFO(channel.path.lstat().st_mode)
        assert not control.paused  # the stale file's words are no request
        send_request(tmp_path, "pause")
        assert wait_for(lambda: control.paused)
    finally:
        channel.close()


@pytest.mark.parametrize("kind", ["symbolic link", "directory"])
def test_anything_else_is_refused_and_left_alone(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "someone's file"
    target.write_text("keep me\n")
    if kind == "directory":
        (tmp_path / "control").mkdir()
    else:
        (tmp_path / "control").symlink_to(target)
    with pytest.raises(TrainuiError, match=f"is a {kind}, not a control channel"):
        ControlChannel(tmp_path, Control())
    assert target.read_text() == "keep me\n"
    assert (tmp_path / "control").is_symlink() == (kind == "symbolic link")


def test_learning_rate_requests_carry_their_value() -> None:
    """`set_lr VALUE` and `scale_lr FACTOR` lines, split anywhere, after garbage too; a value
    that is too long, not a number or not usable changes nothing."""
    reader = RequestReader()
    assert reader.feed(b"\nset_lr 0.0001\n\npause\nscale_") == ["set_lr 0.0001", "pause"]
    assert reader.feed(b"lr 0.5\njunkset_lr 1e-3\nset_lr 1" + b"2" * 40 + b"\n") == [
        "scale_lr 0.5", "set_lr 1e-3"]
    control = Control()
    assert apply_request(control, "set_lr 0.01") and apply_request(control, "scale_lr 0.5")
    for bad in ("set_lr 1e9", "set_lr 1e-3.5", "scale_lr 0", "set_lr inf"):
        assert not apply_request(control, bad)
    assert control.take_lr_request() == ("set", 0.005)
    assert not control.pending


def test_a_learning_rate_sent_through_the_channel_reaches_the_control(tmp_path: Path) -> None:
    """RemoteControl.request_lr -> FIFO -> the trainer's Control, as (mode, value)."""
    control = Control()
    channel = ControlChannel(tmp_path, control)
    try:
        RemoteControl(tmp_path).request_lr(3e-4)
        deadline = time.monotonic() + 5
        while not control.pending and time.monotonic() < deadline:
            time.sleep(0.01)
        assert control.take_lr_request() == ("set", 3e-4)
        with pytest.raises(ValueError):
            RemoteControl(tmp_path).request_lr(-1.0)
    finally:
        channel.close()
