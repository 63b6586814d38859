"""Mixed precision: the autocast context and the grad scaler for a given AMP mode."""

from __future__ import annotations

import contextlib
from contextlib import AbstractContextManager

import torch

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """Autocast and gradient scaling for `off`, `bf16` or `fp16` on one device."""

    def __init__(self, mode: str, device: torch.device) -> None:
        self.mode = mode
        self.device_type = device.type
        # Only fp16 needs loss scaling: bf16 has float32's exponent range.
        self.scaler = torch.amp.GradScaler(device.type, enabled=(mode == "fp16"))

    def autocast(self) -> AbstractContextManager[object]:
        """Return the autocast context for forward passes."""
        if self.mode == "off":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=_DTYPES[self.mode])
