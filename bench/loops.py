"""The loops trainui is compared with: a plain floor loop and the training-loop chapter's loop.

Both are torch-only (no trainui, no textual) so the GPU bench can use them too.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

try:
    from tqdm import tqdm
except ImportError:  # only the chapter loop needs it; loop_overhead skips it then
    tqdm = None

AutocastFactory = Callable[[], contextlib.AbstractContextManager[Any]]


def no_autocast() -> contextlib.AbstractContextManager[Any]:
    """The default: full precision."""
    return contextlib.nullcontext()


class EpochEnds:
    """Wall clock and process CPU time (all threads) at each epoch's end."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.cpu: list[float] = []

    def mark(self) -> None:
        """Note that an epoch just ended."""
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())

    def figures(self) -> dict[str, list[float]]:
        """The marks, as plain lists."""
        return {"epoch_end_wall": self.wall, "epoch_end_cpu": self.cpu}


# --- the floor: read the device once per epoch ----------------------------------------


StepHook = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], None]
"""Called after each training step with (loss, outputs, targets): e.g. `run.log`."""


def plain_train_epoch(model: nn.Module, loader: Iterable[Any], criterion: nn.Module,
                      optimizer: torch.optim.Optimizer, device: torch.device,
                      autocast: AutocastFactory = no_autocast,
                      on_step: StepHook | None = None) -> tuple[float, float]:
    """One epoch; loss sum and correct count stay on the device and are read once at the end."""
    model.train()
    return _pass(model, loader, criterion, device, autocast, optimizer, on_step)


@torch.no_grad()
def plain_validate(model: nn.Module, loader: Iterable[Any], criterion: nn.Module,
                   device: torch.device,
                   autocast: AutocastFactory = no_autocast) -> tuple[float, float]:
    """Mean loss and accuracy, read from the device once."""
    model.eval()
    return _pass(model, loader, criterion, device, autocast, None)


def _pass(model: nn.Module, loader: Iterable[Any], criterion: nn.Module, device: torch.device,
          autocast: AutocastFactory, optimizer: torch.optim.Optimizer | None,
          on_step: StepHook | None = None) -> tuple[float, float]:
    """One pass over `loader` (training it when given an optimizer): mean loss, accuracy."""
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    count = 0
    for inputs, targets in loader:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
        with autocast():
            outputs = model(inputs)
            loss = criterion(outputs, targets)
        if optimizer is not None:
            loss.backward()
            optimizer.step()
        loss_sum += loss.detach().float() * len(targets)
        correct += (outputs.detach().argmax(1) == targets).sum()
        count += len(targets)
        if on_step is not None:
            on_step(loss, outputs, targets)
    return loss_sum.item() / count, correct.item() / count


def plain_fit(model: nn.Module, train_loader: Iterable[Any], val_loader: Iterable[Any],
              criterion: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
              epochs: int, autocast: AutocastFactory = no_autocast,
              sync: Callable[[], None] = lambda: None, on_step: StepHook | None = None,
              on_epoch: Callable[[float, float], None] | None = None) -> dict[str, Any]:
    """Train and validate `epochs` times; return per-epoch train and train+val seconds.
    `on_step` runs after each training step, `on_epoch(val_loss, val_acc)` after each
    validation."""
    train_times, epoch_times, ends = [], [], EpochEnds()
    val_acc = float("nan")
    for _ in range(epochs):
        started = time.perf_counter()
        plain_train_epoch(model, train_loader, criterion, optimizer, device, autocast, on_step)
        sync()
        train_times.append(time.perf_counter() - started)
        val_loss, val_acc = plain_validate(model, val_loader, criterion, device, autocast)
        if on_epoch is not None:
            on_epoch(val_loss, val_acc)
        sync()
        epoch_times.append(time.perf_counter() - started)
        ends.mark()
    return {"train_seconds": train_times, "epoch_seconds": epoch_times, "val_acc": val_acc,
            **ends.figures()}


# --- the chapter's complete loop (Chapter 8, "Complete Training Loop with Validation") -----
# Kept as the chapter wrote it, so `.item()` runs twice per step and tqdm draws both bars.
# Only `autocast` is added, for the GPU bench; on CPU it is a no-op context.


def train_one_epoch(model, train_loader, criterion, optimizer, device,  # type: ignore[no-untyped-def]
                    autocast=no_autocast):
    """Train for one epoch"""
    model.train()  # Set to training mode

    running_loss = 0.0
    correct = 0
    total = 0

    # Progress bar
    pbar = tqdm(train_loader, desc='Training')

    for batch_idx, (data, target) in enumerate(pbar):
        # Move to device
        data, target = data.to(device), target.to(device)

        # Zero gradients
        optimizer.zero_grad()

        # Forward pass
        with autocast():
            output = model(data)
            loss = criterion(output, target)

        # Backward pass
        loss.backward()

        # Update parameters
        optimizer.step()

        # Statistics
        running_loss += loss.item()
        _, predicted = output.max(1)
        total += target.size(0)
        correct += predicted.eq(target).sum().item()

        # Update progress bar
        pbar.set_postfix({
            'loss': running_loss / (batch_idx + 1),
            'acc': 100. * correct / total
        })

    epoch_loss = running_loss / len(train_loader)
    epoch_acc = 100. * correct / total

    return epoch_loss, epoch_acc


def validate(model, val_loader, criterion, device, autocast=no_autocast):  # type: ignore[no-untyped-def]
    """Validate the model"""
    model.eval()  # Set to evaluation mode

    running_loss = 0.0
    correct = 0
    total = 0

    with torch.no_grad():  # Disable gradient computation
        for data, target in tqdm(val_loader, desc='Validation'):
            # Move to device
            data, target = data.to(device), target.to(device)

            # Forward pass
            with autocast():
                output = model(data)
                loss = criterion(output, target)

            # Statistics
            running_loss += loss.item()
            _, predicted = output.max(1)
            total += target.size(0)
            correct += predicted.eq(target).sum().item()

    val_loss = running_loss / len(val_loader)
    val_acc = 100. * correct / total

    return val_loss, val_acc


def chapter_fit(model: nn.Module, train_loader: Iterable[Any], val_loader: Iterable[Any],
                criterion: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device,
                epochs: int, autocast: AutocastFactory = no_autocast,
                save_path: str = "best_model.pth") -> dict[str, Any]:
    """The chapter's `train()`: prints per epoch, saves the best model; timed per phase."""
    best_val_acc = 0.0
    train_times, epoch_times, ends = [], [], EpochEnds()
    val_acc = float("nan")
    for epoch in range(epochs):
        print(f"\nEpoch {epoch+1}/{epochs}")
        print("-" * 60)
        started = time.perf_counter()
        train_loss, train_acc = train_one_epoch(model, train_loader, criterion, optimizer,
                                                device, autocast)
        train_times.append(time.perf_counter() - started)
        val_loss, val_acc = validate(model, val_loader, criterion, device, autocast)
        epoch_times.append(time.perf_counter() - started)
        print(f"Train Loss: {train_loss:.4f}, Train Acc: {train_acc:.2f}%")
        print(f"Val Loss: {val_loss:.4f}, Val Acc: {val_acc:.2f}%")
        if val_acc > best_val_acc:
            best_val_acc = val_acc
            torch.save(model.state_dict(), save_path)
            print(f"✓ Saved best model (acc: {best_val_acc:.2f}%)")
        ends.mark()
    return {"train_seconds": train_times, "epoch_seconds": epoch_times, "val_acc": val_acc / 100,
            **ends.figures()}
