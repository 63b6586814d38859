"""What the machine does for a run: the trainer's CPU and memory, the host's RAM, each GPU.

Headless and stdlib-only: processes and memory come from /proc (Linux), GPUs from NVML
(`pynvml`, from nvidia-ml-py: the `gpu` extra), imported only when GPUs are asked for.
Nothing here raises: what cannot be read is None (a process, a field) or left out (a GPU),
so a view can sample on a timer and show whatever there is.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

PROC = Path("/proc")
MIB = 2**20

ProcessKey = tuple[int, int]
"""(pid, start time in clock ticks): a pid that was reused is another process."""


def _sysconf(name: str, default: int) -> int:
    try:
        return os.sysconf(name)
    except (AttributeError, ValueError, OSError):  # not POSIX, or the name is unknown
        return default


CLOCK_TICKS = _sysconf("SC_CLK_TCK", 100)
PAGE_SIZE = _sysconf("SC_PAGE_SIZE", 4096)


@dataclass(frozen=True)
class ProcessReading:
    """The CPU time of a process and its descendants at one moment (CPU % comes from two)."""

    root: ProcessKey
    ticks: dict[ProcessKey, int]
    at: float


@dataclass(frozen=True)
class ProcessSample:
    """The trainer process and the host's memory."""

    pid: int
    cpu_percent: float | None
    """CPU time of the process and its child processes (DataLoader workers) since the last
    sample, in % of one core (400 = four cores busy); None on the first sample."""
    rss_bytes: int
    """Resident memory of the process itself."""
    ram_used_bytes: int | None
    ram_total_bytes: int | None
    """The host's memory in use (total less available) and in all; None without /proc."""
    reading: ProcessReading = field(repr=False, compare=False)
    """The counters the next sample's CPU % starts from."""


@dataclass(frozen=True)
class GpuSample:
    """One GPU as NVML sees it; each reading None where the device or driver lacks it."""

    index: int
    name: str
    utilization_percent: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    temperature_c: float | None
    power_w: float | None


@dataclass(frozen=True)
class HardwareSample:
    """One look at the machine: the trainer process (None when there is none) and GPUs."""

    process: ProcessSample | None = None
    gpus: tuple[GpuSample, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing could be read: no trainer process and no GPU."""
        return self.process is None and not self.gpus


def _stat_fields(pid: int, proc: Path) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3, the state, first)."""
    try:
        stat = (proc / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    # The command name is in parentheses and may itself hold spaces or parentheses.
    fields = stat.rpartition(")")[2].split()
    return fields if len(fields) >= 22 else None


def _children(pid: int, proc: Path) -> list[int]:
    """The pids of a process's children, from each thread's `children` file."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in (proc / str(pid) / "task").iterdir():
            with contextlib.suppress(OSError, ValueError):
                found += [int(child) for child in (task / "children").read_text().split()]
    return found


def _tree(pid: int, proc: Path, most: int = 256) -> Iterator[int]:
    """The process and its descendants, parents first (at most `most` of them)."""
    pending, seen = [pid], set[int]()
    while pending and len(seen) < most:
        current = pending.pop(0)
        if current not in seen:
            seen.add(current)
            yield current
            pending += _children(current, proc)


def _ticks(fields: list[str]) -> tuple[int, int] | None:
    """(start time, utime + stime) in clock ticks, from stat fields 22, 14 and 15."""
    try:
        return int(fields[19]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        return None


def read_process(pid: int, *, proc: Path = PROC,
                 clock: Callable[[], float] = time.monotonic) -> tuple[ProcessReading, int] | None:
    """The CPU counters of a process tree and the root's resident bytes; None if it is gone."""
    root_fields = _stat_fields(pid, proc)
    root = _ticks(root_fields) if root_fields else None
    if root_fields is None or root is None:
        return None
    ticks: dict[ProcessKey, int] = {}
    for member in _tree(pid, proc):
        fields = root_fields if member == pid else _stat_fields(member, proc)
        counted = _ticks(fields) if fields else None
        if counted is not None:
            ticks[(member, counted[0])] = counted[1]
    try:
        rss = int(root_fields[21]) * PAGE_SIZE
    except (IndexError, ValueError):
        rss = 0
    return ProcessReading(root=(pid, root[0]), ticks=ticks, at=clock()), rss


def cpu_percent(before: ProcessReading | None, after: ProcessReading) -> float | None:
    """CPU time between two readings, in % of one core; None if they are not of one process.

    A child that appeared in between counts whole (it started in between); one that ended
    in between loses its last moments."""
    if before is None or before.root != after.root or after.at <= before.at:
        return None
    used = sum(ticks - before.ticks.get(key, 0) for key, ticks in after.ticks.items())
    return max(0.0, 100.0 * used / CLOCK_TICKS / (after.at - before.at))


def read_memory(proc: Path = PROC) -> tuple[int | None, int | None]:
    """The host's memory (used, total) in bytes, used being total less available."""
    values: dict[str, int] = {}
    try:
        for line in (proc / "meminfo").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("MemTotal", "MemAvailable"):
                values[name] = int(rest.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        return None, None
    total, available = values.get("MemTotal"), values.get("MemAvailable")
    if total is None:
        return None, None
    return (None if available is None else total - available), total


def sample_process(pid: int, previous: ProcessSample | None = None, *, proc: Path = PROC,
                   clock: Callable[[], float] = time.monotonic) -> ProcessSample | None:
    """The process's CPU % since `previous` (None without one), its RSS and the host's
    memory; None when the process is gone or /proc cannot be read."""
    read = read_process(pid, proc=proc, clock=clock)
    if read is None:
        return None
    reading, rss = read
    used, total = read_memory(proc)
    before = previous.reading if previous is not None else None
    return ProcessSample(pid=pid, cpu_percent=cpu_percent(before, reading), rss_bytes=rss,
                         ram_used_bytes=used, ram_total_bytes=total, reading=reading)


def _query(call: Callable[[], Any]) -> Any:
    """One NVML query; None when the device, driver or bindings do not support it."""
    try:
        return call()
    except Exception:  # pynvml.NVMLError and its many subclasses, or a missing symbol
        return None


def _name(nvml: ModuleType, handle: object) -> str:
    name = _query(lambda: nvml.nvmlDeviceGetName(handle))
    if isinstance(name, bytes):  # older bindings
        name = name.decode(errors="replace")
    return str(name).removeprefix("NVIDIA ").strip() if name else "GPU"


def _scaled(value: object, factor: float) -> float | None:
    return float(value) * factor if isinstance(value, int | float) else None


def read_gpu(nvml: ModuleType, index: int, handle: object) -> GpuSample:
    """Every reading of one device; those it lacks are None."""
    rates = _query(lambda: nvml.nvmlDeviceGetUtilizationRates(handle))
    memory = _query(lambda: nvml.nvmlDeviceGetMemoryInfo(handle))
    temperature = _query(lambda: nvml.nvmlDeviceGetTemperature(handle,
                                                               nvml.NVML_TEMPERATURE_GPU))
    power = _query(lambda: nvml.nvmlDeviceGetPowerUsage(handle))  # milliwatts
    used = getattr(memory, "used", None)
    total = getattr(memory, "total", None)
    return GpuSample(
        index=index, name=_name(nvml, handle),
        utilization_percent=_scaled(getattr(rates, "gpu", None), 1.0),
        memory_used_bytes=used if isinstance(used, int) else None,
        memory_total_bytes=total if isinstance(total, int) else None,
        temperature_c=_scaled(temperature, 1.0), power_w=_scaled(power, 1e-3),
    )  # fmt: skip


def _runs_on(nvml: ModuleType, handle: object, pid: int) -> bool:
    """Whether `pid` has a compute context on the device (pids of this namespace only)."""
    processes = _query(lambda: nvml.nvmlDeviceGetComputeRunningProcesses(handle)) or []
    return any(getattr(process, "pid", None) == pid for process in processes)


class Nvml:
    """NVML, initialised on first use and kept open; quietly empty where it cannot be had
    (no nvidia-ml-py, no driver, no device)."""

    def __init__(self) -> None:
        self._module: ModuleType | None = None
        self._tried = False

    def _open(self) -> ModuleType | None:
        if not self._tried:
            self._tried = True
            try:
                module = importlib.import_module("pynvml")
                module.nvmlInit()
            except Exception:  # ImportError, NVMLError (no library, no driver), OSError
                return None
            self._module = module
        return self._module

    def sample(self, pid: int | None = None) -> list[GpuSample]:
        """Every GPU, or only those `pid` computes on when it is found on any."""
        nvml = self._open()
        count = _query(nvml.nvmlDeviceGetCount) if nvml is not None else None
        if nvml is None or not isinstance(count, int):
            return []
        handles = [(index, handle) for index in range(count)
                   if (handle := _query(partial(nvml.nvmlDeviceGetHandleByIndex, index)))
                   is not None]
        if pid is not None:
            mine = [(index, handle) for index, handle in handles if _runs_on(nvml, handle, pid)]
            handles = mine or handles
        return [read_gpu(nvml, index, handle) for index, handle in handles]

    def close(self) -> None:
        """Shut NVML down if it was opened."""
        if self._module is not None:
            _query(self._module.nvmlShutdown)
            self._module = None


def sample_gpus(pid: int | None = None) -> list[GpuSample]:
    """Every GPU (or those `pid` runs on) once; [] without pynvml, a driver or a device."""
    nvml = Nvml()
    try:
        return nvml.sample(pid)
    finally:
        nvml.close()


def _constant(pid: int | None) -> Callable[[], int | None]:
    return lambda: pid


class HardwareSampler:
    """Samples a run's hardware again and again: keeps the last reading for CPU % and NVML
    open in between. `pid` says which process trains, now (None: none does)."""

    def __init__(self, pid: int | Callable[[], int | None] | None, *, proc: Path = PROC,
                 nvml: Nvml | None = None) -> None:
        self._pid = pid if callable(pid) else _constant(pid)
        self._proc = proc
        self._nvml = nvml or Nvml()
        self._previous: ProcessSample | None = None

    @classmethod
    def for_run(cls, run_dir: Path) -> HardwareSampler:
        """Follows whichever process holds the run's lock (a resumed run gets a new one)."""
        from .run_dir import lock_holder

        return cls(lambda: lock_holder(run_dir))

    def sample(self, *, gpus: bool = False) -> HardwareSample:
        """The trainer process now and, with `gpus`, the GPUs it uses; never raises."""
        try:
            pid = self._pid()
            process = None if pid is None else sample_process(pid, self._previous,
                                                              proc=self._proc)
            self._previous = process
            found = self._nvml.sample(pid) if gpus and pid is not None else []
        except Exception:  # a view's timer must never see one
            return HardwareSample()
        return HardwareSample(process=process, gpus=tuple(found))

    def close(self) -> None:
        """Release NVML."""
        self._nvml.close()


def peak_memory_metrics(device: Any) -> dict[str, float]:
    """`{"gpu_peak_mem_mb": ...}`: the most memory torch's allocator held on a CUDA `device`
    since the last call (the peak is reset), or {} elsewhere. Host-side counters: no sync."""
    if getattr(device, "type", str(device).split(":")[0]) != "cuda":
        return {}
    import torch  # only a CUDA run gets here, and it has torch loaded already

    try:
        peak = torch.cuda.max_memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
    except (RuntimeError, AssertionError):  # CUDA not initialised or not compiled in
        return {}
    return {"gpu_peak_mem_mb": peak / MIB}
