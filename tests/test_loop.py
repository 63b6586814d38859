"""The training loop end to end on digits, through the Python API."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn

from core_fixtures import Recorder, digits, digits_loaders
from trainui.core import Control, EarlyStopping, fit
from trainui.core.callbacks import Callback
from trainui.core.events import (
    EpochEnded,
    Finished,
    NonFiniteLoss,
    Paused,
    Progress,
    Resumed,
    RunStarted,
    StopRequested,
    TrainingStopped,
)
from trainui.core.models import build_model


def make_model(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model("cnn", (1, 8, 8), 10)


def train(epochs: int = 2, **kwargs):  # type: ignore[no-untyped-def]
    model = kwargs.pop("model", None) or make_model()
    train_loader, val_loader, test_loader = digits_loaders()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    recorder = Recorder()
    history = fit(model, train_loader, val_loader, nn.CrossEntropyLoss(), optimizer,
                  epochs=epochs, device="cpu", sinks=[recorder, *kwargs.pop("sinks", [])],
                  **kwargs)
    return model, history, recorder


@pytest.mark.slow
def test_fit_returns_history_like_the_chapter() -> None:
    _, history, recorder = train(epochs=3, progress_interval=0.0)
    assert len(history) == 3
    assert history["val_acc"][-1] > 0.9
    assert history["train_loss"][0] > history["train_loss"][-1]
    assert len(recorder.of(EpochEnded)) == 3
    progress = recorder.of(Progress)
    assert progress and progress[-1].step == progress[-1].steps_per_epoch
    total_steps = 3 * len(digits_loaders()[0])
    assert progress[-1].global_step == total_steps
    assert sum(len(p.step_losses) for p in progress) >= min(total_steps, 20)
    assert len(history.step_loss) > 0
    assert recorder.of(TrainingStopped)[0].cause == "completed"


@pytest.mark.slow
def test_test_loader_gives_final_metrics_in_finished() -> None:
    test_loader = digits_loaders()[2]
    _, _, recorder = train(epochs=2, test_loader=test_loader, class_names=digits().class_names)
    finished = recorder.of(Finished)[-1]
    assert finished.metrics is not None and finished.metrics["accuracy"] > 0.8
    assert len(finished.confusion_matrix) == 10
    assert sum(map(sum, finished.confusion_matrix)) == len(digits().test)
    assert finished.class_names == [str(i) for i in range(10)]


@pytest.mark.slow
def test_same_seed_same_weights() -> None:
    torch.manual_seed(1)
    first, _, _ = train(epochs=1)
    torch.manual_seed(1)
    second, _, _ = train(epochs=1)
    for a, b in zip(first.state_dict().values(), second.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.slow
def test_early_stopping_ends_fit_with_its_reason() -> None:
    _, history, recorder = train(epochs=10, callbacks=[EarlyStopping(monitor="val_loss",
                                                                     patience=0, min_delta=10)])
    assert len(history) == 2
    stopped = recorder.of(TrainingStopped)[0]
    assert stopped.cause == "early_stopping" and "did not improve" in stopped.reason


def test_non_finite_loss_stops_with_a_reason() -> None:
    model = make_model()
    with torch.no_grad():
        model[-1].bias.fill_(float("nan"))  # every logit, so every loss, becomes NaN
    _, history, recorder = train(epochs=3, model=model)
    assert len(history) == 0
    assert recorder.of(NonFiniteLoss)
    assert recorder.of(TrainingStopped)[0].cause == "non_finite_loss"


class PauseAfterFirstProgress:
    """A sink that pauses at the first Progress, checks steps stay put, then resumes."""

    def __init__(self, control: Control, seconds: float = 0.3) -> None:
        self.control = control
        self.seconds = seconds
        self.paused_at: int | None = None
        self.steps_while_paused: list[int] = []
        self.done = False

    def __call__(self, event: object) -> None:
        if isinstance(event, Progress) and not self.done:
            self.done = True
            self.control.pause()
            threading.Timer(self.seconds, self.control.resume).start()
        if isinstance(event, Paused):
            self.paused_at = event.global_step
        if isinstance(event, Progress) and self.paused_at is not None:
            self.steps_while_paused.append(event.global_step)


@pytest.mark.slow
def test_pause_holds_steps_and_resume_continues() -> None:
    control = Control()
    watcher = PauseAfterFirstProgress(control)
    _, history, recorder = train(epochs=1, control=control, sinks=[watcher],
                                 progress_interval=0.0)
    paused, resumed = recorder.of(Paused), recorder.of(Resumed)
    assert len(paused) == 1 and len(resumed) == 1
    assert resumed[0].global_step == paused[0].global_step  # no step ran while paused
    assert resumed[0].paused_seconds >= 0.25
    assert len(history) == 1


@pytest.mark.slow
def test_paused_time_is_not_training_time() -> None:
    """An epoch paused for 2 s records its time and samples/s without the pause, in the
    history (history.csv's rows) and in EpochEnded."""
    control = Control()
    watcher = PauseAfterFirstProgress(control, seconds=2.0)
    _, history, recorder = train(epochs=1, control=control, sinks=[watcher],
                                 progress_interval=0.0)
    paused = recorder.of(Resumed)[0].paused_seconds
    assert paused >= 1.5  # resumed 2 s after the request; paused a step after it
    # From the first step's progress to the epoch's end, less the pause (the first step
    # and a margin for a loaded machine on top).
    wall = recorder.of(EpochEnded)[0].time - recorder.of(Progress)[0].time
    unpaused = wall - paused + 0.5
    assert history["epoch_time"][0] <= unpaused
    assert recorder.of(EpochEnded)[0].epoch_time == history["epoch_time"][0]
    train_samples = len(digits().train)
    assert history["samples_per_second"][0] >= train_samples / unpaused


def test_stop_now_ends_mid_epoch() -> None:
    control = Control()

    def stop_at_first_progress(event: object) -> None:
        if isinstance(event, Progress):
            control.request_stop("now")

    _, history, recorder = train(epochs=3, control=control, sinks=[stop_at_first_progress],
                                 progress_interval=0.0)
    assert len(history) == 0
    assert recorder.of(StopRequested)[0].mode == "now"
    assert recorder.of(TrainingStopped)[0].cause == "user"


@pytest.mark.slow
def test_stop_after_epoch_finishes_that_epoch() -> None:
    control = Control()
    control.request_stop("epoch")
    _, history, recorder = train(epochs=3, control=control)
    assert len(history) == 1
    assert "after epoch 1" in recorder.of(TrainingStopped)[0].reason


@pytest.mark.slow
def test_bf16_autocast_and_gradient_clipping_train() -> None:
    _, history, _ = train(epochs=1, amp="bf16", clip_grad=1.0)
    assert history["val_acc"][0] > 0.5


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mlp", "cnn", "resnet18"])
def test_builtin_models_fit_digits(name: str) -> None:
    model = build_model(name, (1, 8, 8), 10)
    assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.slow
def test_run_started_is_not_emitted_by_fit() -> None:
    _, _, recorder = train(epochs=1)
    assert not recorder.of(RunStarted)  # announcing a run is the run builder's job


class SaveCounter(Callback):
    """Counts checkpoints asked for."""

    def __init__(self) -> None:
        self.saves = 0

    def on_save_requested(self, loop: object) -> None:
        self.saves += 1


@pytest.mark.slow
def test_a_save_sent_with_a_stop_is_taken_by_a_paused_run() -> None:
    """`trainui control stop` (save, then stop now) on a paused run: the save is taken
    before the run stops, even when the stop is what ends the pause."""
    control = Control()
    counter = SaveCounter()

    def pause_then_save_and_stop(event: object) -> None:
        if isinstance(event, Paused):
            def both() -> None:
                control.request_save()
                control.request_stop("now")
            threading.Timer(0.2, both).start()
        elif isinstance(event, Progress) and not control.paused and event.global_step >= 3:
            control.pause()

    train(epochs=1, control=control, sinks=[pause_then_save_and_stop],
          progress_interval=0.0, callbacks=[counter])
    assert counter.saves == 1
