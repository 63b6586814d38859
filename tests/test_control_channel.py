"""The FIFO control channel between watchers and a training process."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from trainui.core.control import Control
from trainui.core.control_channel import ControlChannel, RemoteControl, send_request
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
def test_another_user_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    tmp_path.chmod(0o755)
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
