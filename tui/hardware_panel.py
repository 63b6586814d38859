"""Hardware panel: the trainer's CPU and memory, and on CUDA one line per GPU.

`CPU 97% · RAM 1.2 GiB · host 14.1/23.5 GiB` and `GPU0 H200 87% · 41.2/139.8 GiB · 64°C ·
412 W`, each line as detailed as the room allows. Sampled once a second on a thread of its
own (NVML can take a while to start); hidden while there is nothing to show.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from trainui.core import events as ev
from trainui.core.hardware import GpuSample, HardwareSample, ProcessSample

from .panel import EventPanel, set_text

SAMPLE_EVERY = 1.0
"""Seconds between samples."""
PEAK_METRIC = "gpu_peak_mem_mb"
"""The EpochEnded metric with the trainer's peak allocator memory (core.hardware)."""
SHARE = 0.4
"""The part of the terminal's width the panel may take (as its max-width in DEFAULT_CSS)."""
GIB = 2**30
SEP = " · "


class HardwareSource(Protocol):
    """Where samples come from: core.hardware.HardwareSampler, or a fake in tests."""

    def sample(self, *, gpus: bool = False) -> HardwareSample:
        """The machine now; GPUs only when asked."""


def _gib(value: float) -> str:
    return f"{value / GIB:.1f}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _join(parts: Sequence[str | None]) -> str:
    return SEP.join(part for part in parts if part)


def fit(forms: Sequence[str], width: int) -> str:
    """The first (most detailed) form that fits in `width` cells, else the last."""
    return next((form for form in forms if len(form) <= width), forms[-1])


def process_forms(process: ProcessSample, peak_mb: float | None = None) -> list[str]:
    """The trainer's line, most detailed first: CPU %, RSS, GPU peak, the host's memory."""
    used, total = process.ram_used_bytes, process.ram_total_bytes
    host = f"host {_gib(used)}/{_gib(total)} GiB" if used is not None and total else None
    peak = f"GPU peak {_gib(peak_mb * 2**20)} GiB" if peak_mb is not None else None
    core = [f"CPU {_percent(process.cpu_percent)}", f"RAM {_gib(process.rss_bytes)} GiB"]
    full = _join([*core, peak, host])
    return [f"trainer {full}", full, _join([*core, peak]), _join(core)]


def gpu_forms(gpu: GpuSample) -> list[str]:
    """One GPU's line, most detailed first: name, utilisation, memory, temperature, power."""
    label = f"GPU{gpu.index}"
    used, total = gpu.memory_used_bytes, gpu.memory_total_bytes
    memory = None if used is None or total is None else f"{_gib(used)}/{_gib(total)} GiB"
    util = None if gpu.utilization_percent is None else _percent(gpu.utilization_percent)
    heat = None if gpu.temperature_c is None else f"{gpu.temperature_c:.0f}°C"
    power = None if gpu.power_w is None else f"{gpu.power_w:.0f} W"
    named = " ".join(part for part in (label, gpu.name, util) if part)
    short = " ".join(part for part in (label, util) if part)
    return [_join([named, memory, heat, power]), _join([short, memory, heat, power]),
            _join([short, memory])]


def hardware_lines(sample: HardwareSample | None, width: int,
                   peak_mb: float | None = None) -> list[str]:
    """The panel's lines for `width` cells: the trainer's, then one per GPU ([]: hidden)."""
    if sample is None or sample.empty:
        return []
    lines = [fit(gpu_forms(gpu), width) for gpu in sample.gpus]
    if sample.process is not None:
        lines.insert(0, fit(process_forms(sample.process, peak_mb), width))
    return lines


class HardwarePanel(EventPanel, Static):
    """What the machine does for the run, next to the header; hidden without a source, a
    trainer process or a GPU. GPUs are sampled once the run says it trains on CUDA."""

    DEFAULT_CSS = """
    HardwarePanel { display: none; width: auto; max-width: 40%; height: auto;
                    padding: 0 1; background: $panel; text-wrap: nowrap;
                    text-overflow: ellipsis; }
    HardwarePanel.-shown { display: block; }
    """

    class Sampled(Message):
        """A sample taken on the sampling thread."""

        def __init__(self, sample: HardwareSample | None) -> None:
            super().__init__()
            self.sample = sample

    def __init__(self, source: HardwareSource | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._source = source
        self.latest: HardwareSample | None = None
        self.peak_mb: float | None = None
        """The trainer's peak allocator memory in the latest epoch (a CUDA run)."""
        self._gpus = False
        self._sampling = False

    def on_mount(self) -> None:
        """Sample now and once a second, when there is something to sample."""
        if self._source is not None:
            self.sample_soon()
            self.set_interval(SAMPLE_EVERY, self.sample_soon)

    def sample_soon(self) -> None:
        """Take a sample on a thread of its own, unless one is still being taken."""
        if self._source is None or self._sampling:
            return
        self._sampling = True
        threading.Thread(target=self._sample, args=(self._source, self._gpus),
                         name="trainui-hardware", daemon=True).start()

    def _sample(self, source: HardwareSource, gpus: bool) -> None:
        try:
            sample: HardwareSample | None = source.sample(gpus=gpus)
        except Exception:  # a fake or third-party source: hide rather than fail the view
            sample = None
        try:
            self.post_message(self.Sampled(sample))
        except RuntimeError:  # the app closed (its event loop with it) while sampling
            pass

    def on_hardware_panel_sampled(self, message: Sampled) -> None:
        """Keep the new sample; the next tick shows it."""
        self._sampling = False
        self.latest = message.sample
        self.mark_dirty()

    def take(self, event: ev.Event) -> None:
        """A run on CUDA turns GPU sampling on; an epoch brings the trainer's peak memory."""
        if isinstance(event, ev.RunStarted):
            self._gpus = event.device.startswith("cuda")
            self.peak_mb = None
        elif isinstance(event, ev.EpochEnded) and PEAK_METRIC in event.metrics:
            self.peak_mb = event.metrics[PEAK_METRIC]
            self.mark_dirty()

    def redraw(self) -> None:
        """Show the latest sample in the room there is, or hide."""
        width = max(20, int(self.app.size.width * SHARE) - 2)
        lines = hardware_lines(self.latest, width, self.peak_mb)
        self.set_class(bool(lines), "-shown")
        if lines:
            set_text(self, Content("\n".join(lines)))  # not markup: a name may hold "["
