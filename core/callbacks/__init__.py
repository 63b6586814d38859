"""Callbacks: early stopping, checkpointing, learning-rate scheduling."""

from .base import Callback
from .checkpointing import Checkpointing
from .early_stopping import EarlyStopping, stopping_decision
from .lr_scheduler import LRScheduling

__all__ = ["Callback", "Checkpointing", "EarlyStopping", "LRScheduling", "stopping_decision"]
