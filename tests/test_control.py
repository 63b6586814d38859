"""The thread-safe Control object."""

from __future__ import annotations

import threading
import time

import pytest

from trainui.core.control import Control


def test_nothing_pending_at_start() -> None:
    control = Control()
    assert not control.pending and control.stop_mode is None and not control.paused


def test_pause_blocks_until_resume_from_another_thread() -> None:
    control = Control()
    control.pause()
    assert control.pending
    done = threading.Event()

    def waiter() -> None:
        control.wait_while_paused()
        done.set()

    thread = threading.Thread(target=waiter)
    thread.start()
    assert not done.wait(0.2)
    started = time.process_time()
    time.sleep(0.3)
    control.resume()
    assert done.wait(2)
    thread.join()
    assert time.process_time() - started < 0.2  # no busy waiting while paused
    assert not control.pending


def test_stop_now_ends_a_pause() -> None:
    control = Control()
    control.pause()
    threading.Timer(0.1, control.request_stop, args=("now",)).start()
    control.wait_while_paused()
    assert control.stop_mode == "now"


def test_stop_is_announced_once_per_mode_and_now_upgrades_epoch() -> None:
    control = Control()
    control.request_stop("epoch")
    assert control.take_new_stop() == ("epoch", "user")
    assert control.take_new_stop() is None
    control.request_stop("now", source="SIGINT")
    assert control.take_new_stop() == ("now", "SIGINT")
    control.request_stop("epoch")
    assert control.stop_mode == "now"


def test_save_request_is_taken_once() -> None:
    control = Control()
    control.request_save()
    assert control.pending and control.take_save_request()
    assert not control.take_save_request() and not control.pending


def test_toggle_and_bad_mode() -> None:
    control = Control()
    assert control.toggle_pause() is True
    assert control.toggle_pause() is False
    with pytest.raises(ValueError):
        control.request_stop("later")


def test_a_learning_rate_set_to_its_value_says_unchanged() -> None:
    from trainui.core.control_client import ACTIONS, Context
    from trainui.core.events import LRChanged

    ctx = Context(run="runs/a", epochs=20, paused=False)
    says = ACTIONS["set-lr"].says
    same = LRChanged(epoch=2, global_step=70, old_lr=0.001, new_lr=0.001, scheduler="user")
    assert says(ctx, same) == ("learning rate of runs/a: already 0.001, unchanged at "
                               "epoch 3/20, step 70")
    moved = LRChanged(epoch=2, global_step=70, old_lr=0.001, new_lr=0.0003, scheduler="user")
    assert says(ctx, moved) == "learning rate of runs/a: 0.001 -> 0.0003 at epoch 3/20, step 70"
