"""Callbacks: early stopping, checkpointing, learning-rate scheduling, rollback."""

from .base import Callback
from .checkpointing import Checkpointing
from .early_stopping import EarlyStopping, stopping_decision
from .lr_scheduler import LRScheduling
from .rollback import Rollback

__all__ = ["Callback", "Checkpointing", "EarlyStopping", "LRScheduling", "Rollback",
           "stopping_decision"]
