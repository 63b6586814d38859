"""Being told when a run ends: terminal bytes (bell, OSC 9, OSC 777, tmux passthrough) and
the JSON POST of --notify-url, with real processes and a local HTTP server."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from trainui.core.errors import TrainuiError
from trainui.core.events import Failed
from trainui.core.notify import NotifySink, check_url, post_json, terminal_bytes


class Hook(BaseHTTPRequestHandler):
    """Records each POST; answers with the status the server is set to."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        length = int(self.headers["Content-Length"])
        self.server.received.append((self.headers["Content-Type"],  # type: ignore[attr-defined]
                                     self.rfile.read(length)))
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), Hook)
    server.received = []  # type: ignore[attr-defined]
    server.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def url_of(server: HTTPServer, path: str = "/hook") -> str:
    return f"http://127.0.0.1:{server.server_address[1]}{path}"


def test_terminal_bytes_bell_osc9_osc777_and_tmux() -> None:
    """A BEL, then both notifications; control characters in a name or message cannot end
    the sequence early; in tmux each is wrapped in its passthrough with ESC doubled."""
    plain = terminal_bytes("trainui: r finished", "done\x1b]0;evil\x07 ok", tmux=False)
    assert plain == ("\x07\x1b]9;trainui: r finished: done ]0;evil  ok\x07"
                     "\x1b]777;notify;trainui: r finished;done ]0,evil  ok\x07")
    wrapped = terminal_bytes("t", "b", tmux=True)
    assert wrapped == ("\x07\x1bPtmux;\x1b\x1b]9;t: b\x07\x1b\\"
                       "\x1bPtmux;\x1b\x1b]777;notify;t;b\x07\x1b\\")


def test_post_json_arrives_and_failures_are_one_line(hook: HTTPServer) -> None:
    post_json(url_of(hook), {"run": "r", "value": 1.5})
    content_type, body = hook.received[0]  # type: ignore[attr-defined]
    assert content_type == "application/json" and json.loads(body) == {"run": "r", "value": 1.5}
    assert b"\n" not in body
    hook.status = 500  # type: ignore[attr-defined]
    with pytest.raises(TrainuiError, match="answered 500"):
        post_json(url_of(hook), {})
    with pytest.raises(TrainuiError, match="cannot reach"):
        post_json("http://127.0.0.1:9/nothing", {}, timeout=2)


def test_a_failed_run_posts_and_a_dead_url_only_warns(hook: HTTPServer, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    NotifySink(tmp_path / "run", url=url_of(hook))(Failed(message="disk full", exit_code=1))
    sent = json.loads(hook.received[0][1])  # type: ignore[attr-defined]
    assert (sent["event"], sent["run"], sent["message"]) == ("failed", "run", "disk full")
    NotifySink(tmp_path / "run", url="http://127.0.0.1:9/x")(Failed(message="x"))
    assert capsys.readouterr().err.startswith("trainui: warning: notification not sent: ")


@pytest.mark.parametrize("url", ["ftp://x", "localhost:8000", "http://", "http://a b"])
def test_bad_urls(url: str) -> None:
    assert check_url(url) is not None
    assert check_url("https://hooks.example.com/T0/B1?x=1") is None


@pytest.mark.slow
def test_a_headless_run_posts_its_summary_and_rings_its_terminal(
        hook: HTTPServer, tmp_path: Path) -> None:
    """`trainui train --notify --notify-url URL` on a terminal: the bytes reach the pty,
    the summary reaches the server, exit 0."""
    main, secondary = pty.openpty()
    env = {**os.environ, "TMUX": ""}
    process = subprocess.Popen(
        [sys.executable, "-m", "trainui.tui.cli", "train", "--headless", "--epochs", "1",
         "--notify", "--notify-url", url_of(hook), "--run-dir", tmp_path / "run"],
        stdin=subprocess.DEVNULL, stdout=secondary, stderr=subprocess.PIPE, env=env)
    os.close(secondary)
    output = b""
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 120)
            if not ready:
                break
            try:
                chunk = os.read(main, 4096)
            except OSError:  # the other end closed
                break
            if not chunk:
                break
            output += chunk
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)
    assert b"\x07\x1b]9;trainui: run finished: completed 1 epoch; test accuracy " in output
    assert b"\x1b]777;notify;trainui: run finished;" in output
    sent = json.loads(hook.received[0][1])  # type: ignore[attr-defined]
    assert sent["event"] == "finished" and sent["cause"] == "completed"
    assert sent["epochs"] == 1 and 0 < sent["test_accuracy"] <= 1
    assert sent["run_dir"] == str(tmp_path / "run")


def test_a_run_that_a_non_finite_loss_ended_is_a_failure(hook: HTTPServer, tmp_path: Path) -> None:
    """Its Finished event says non_finite_loss: the POST and the notification say failed."""
    from trainui.core.events import Finished
    from trainui.core.notify import ending_of

    event = Finished(cause="non_finite_loss", reason="training loss became nan at step 9",
                     epochs_completed=2, global_step=9, elapsed=1.0, metrics=None,
                     confusion_matrix=None, class_names=[])
    assert ending_of(event) == ("failed", "training loss became nan at step 9")
    NotifySink(tmp_path / "run", url=url_of(hook))(event)
    sent = json.loads(hook.received[0][1])  # type: ignore[attr-defined]
    assert (sent["event"], sent["exit_code"], sent["epochs"]) == ("failed", 1, 2)
