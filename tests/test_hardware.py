"""The hardware panel: sampling /proc and NVML (faked), formatting lines, showing or hiding."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trainui.core import events as ev
from trainui.core import hardware as hw
from trainui.core.hardware import (
    GpuSample,
    HardwareSample,
    HardwareSampler,
    ProcessReading,
    ProcessSample,
)
from trainui.tui.hardware_panel import (
    HardwarePanel,
    fit,
    gpu_forms,
    hardware_lines,
    process_forms,
)
from tui_fixtures import FakeJob, async_test, clock_after, running_events, settle

GIB = 2**30
BUSY = "while True: pass"


def process_sample(cpu: float | None = 97.0, rss: float = 1.2 * GIB,
                   used: float | None = 14.1 * GIB, total: float | None = 23.5 * GIB,
                   pid: int = 4242) -> ProcessSample:
    """A trainer's sample with fixed numbers."""
    reading = ProcessReading(root=(pid, 1), ticks={}, at=0.0)
    return ProcessSample(pid=pid, cpu_percent=cpu, rss_bytes=int(rss),
                         ram_used_bytes=None if used is None else int(used),
                         ram_total_bytes=None if total is None else int(total), reading=reading)


H200 = GpuSample(index=0, name="H200", utilization_percent=87.0,
                 memory_used_bytes=int(41.2 * GIB), memory_total_bytes=int(139.8 * GIB),
                 temperature_c=64.0, power_w=412.3)


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process this test started, by its pid, and reap it."""
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)


@pytest.fixture
def busy() -> Iterator[subprocess.Popen[bytes]]:
    """A child process spinning one core."""
    process = subprocess.Popen([sys.executable, "-c", BUSY])
    try:
        yield process
    finally:
        stop(process)


class TestProcess:
    def test_this_process_has_memory_and_no_cpu_yet(self) -> None:
        """A first sample of this process: its RSS and the host's memory, CPU % unknown."""
        sample = hw.sample_process(os.getpid())
        assert sample is not None
        assert sample.rss_bytes > 0 and sample.cpu_percent is None
        assert sample.ram_total_bytes and sample.ram_used_bytes
        assert 0 < sample.ram_used_bytes < sample.ram_total_bytes

    def test_busy_process_uses_a_core(self, busy: subprocess.Popen[bytes]) -> None:
        """A process spinning a core reads clearly busy between two samples (an idle one
        reads about 0%; the threshold is low because a loaded test machine shares cores)."""
        sampler = HardwareSampler(busy.pid)
        first = sampler.sample().process
        time.sleep(1.0)
        second = sampler.sample().process
        assert first is not None and second is not None
        assert second.cpu_percent is not None and second.cpu_percent > 10

    def test_busy_child_counts_for_its_parent(self) -> None:
        """CPU % covers the process's children (DataLoader workers), not only itself: the
        parent only waits (about 0% of its own), its busy child makes it read busy."""
        spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {BUSY!r}])"
        parent = subprocess.Popen([sys.executable, "-c", spawn])
        children: list[int] = []
        try:
            deadline = time.monotonic() + 10
            while not children and time.monotonic() < deadline:
                time.sleep(0.05)
                children = hw._children(parent.pid, hw.PROC)
            sampler = HardwareSampler(parent.pid)
            sampler.sample()
            time.sleep(1.0)
            process = sampler.sample().process
            assert children and process is not None
            assert process.cpu_percent is not None and process.cpu_percent > 10
        finally:
            for pid in children:
                with_gone_ok(lambda pid=pid: os.kill(pid, 9))
            stop(parent)

    def test_dead_process_gives_none(self) -> None:
        """A pid whose process ended: no sample, and a sampler shows nothing for it."""
        process = subprocess.Popen([sys.executable, "-c", "pass"])
        stop(process)
        assert hw.sample_process(process.pid) is None
        assert HardwareSampler(process.pid).sample().empty

    def test_no_pid_and_a_failing_pid_source_give_nothing(self) -> None:
        """No trainer (a finished run), or a source that raises: an empty sample."""
        assert HardwareSampler(None).sample().empty

        def broken() -> int | None:
            raise OSError("lock file unreadable")

        assert HardwareSampler(broken).sample(gpus=True).empty

    def test_a_new_trainer_starts_without_cpu(self, tmp_path: Path) -> None:
        """When the run's process changes (a resumed run), the first sample of the new one
        has no CPU % rather than its whole lifetime's."""
        write_stat(tmp_path, 10, start=5, ticks=(100, 50))
        write_stat(tmp_path, 11, start=900, ticks=(100, 50))
        pids = iter([10, 11])
        sampler = HardwareSampler(lambda: next(pids), proc=tmp_path)
        assert sampler.sample().process is not None
        second = sampler.sample().process
        assert second is not None and second.pid == 11 and second.cpu_percent is None


def with_gone_ok(kill: Any) -> None:
    """Kill a process that may be gone already."""
    try:
        kill()
    except ProcessLookupError:
        pass


def write_stat(proc: Path, pid: int, *, start: int, ticks: tuple[int, int], rss_pages: int = 10,
               children: tuple[int, ...] = (), comm: str = "py (x) y") -> None:
    """A fake /proc/PID with a stat line (comm holding spaces and parentheses)."""
    fields = ["S", "1"] + ["0"] * 9 + [str(ticks[0]), str(ticks[1])] + ["0"] * 6
    fields += [str(start), "0", str(rss_pages)] + ["0"] * 20
    folder = proc / str(pid)
    (folder / "task" / str(pid)).mkdir(parents=True, exist_ok=True)
    (folder / "stat").write_text(f"{pid} ({comm}) {' '.join(fields)}\n")
    (folder / "task" / str(pid) / "children").write_text(" ".join(map(str, children)))


class TestProcFiles:
    def test_cpu_and_rss_from_stat(self, tmp_path: Path) -> None:
        """utime+stime of the process and its children over wall time; RSS in pages."""
        (tmp_path / "meminfo").write_text(
            "MemTotal:       1000 kB\nMemFree:         100 kB\nMemAvailable:    400 kB\n")
        write_stat(tmp_path, 10, start=5, ticks=(100, 50), children=(11,))
        write_stat(tmp_path, 11, start=7, ticks=(20, 0))
        now = iter([1.0, 3.0])
        first = hw.sample_process(10, proc=tmp_path, clock=lambda: next(now))
        write_stat(tmp_path, 10, start=5, ticks=(200, 50), children=(11,))
        write_stat(tmp_path, 11, start=7, ticks=(120, 0))
        second = hw.sample_process(10, first, proc=tmp_path, clock=lambda: next(now))
        assert first is not None and second is not None
        # 100 + 100 ticks in 2 s at CLOCK_TICKS a second.
        assert second.cpu_percent == pytest.approx(100 * 200 / hw.CLOCK_TICKS / 2)
        assert second.rss_bytes == 10 * hw.PAGE_SIZE
        assert (second.ram_used_bytes, second.ram_total_bytes) == (600 * 1024, 1000 * 1024)

    def test_missing_meminfo_leaves_host_memory_unknown(self, tmp_path: Path) -> None:
        """Without /proc/meminfo the process is still sampled."""
        write_stat(tmp_path, 10, start=5, ticks=(1, 1))
        sample = hw.sample_process(10, proc=tmp_path)
        assert sample is not None and sample.ram_total_bytes is None

    def test_garbled_stat_gives_none(self, tmp_path: Path) -> None:
        """A stat file that does not parse is no process."""
        (tmp_path / "10").mkdir()
        (tmp_path / "10" / "stat").write_text("10 (x) S 1 2\n")
        assert hw.sample_process(10, proc=tmp_path) is None


class FakeMemory:
    used = int(41.2 * GIB)
    total = int(139.8 * GIB)


class NVMLError(Exception):
    """What pynvml raises."""


def fake_pynvml(count: int = 1, *, init_fails: bool = False, on_device: int | None = None,
                broken: tuple[str, ...] = ()) -> types.ModuleType:
    """A pynvml with `count` H200s; `broken` names queries that fail; `on_device`: the
    device the trainer (pid 4242) computes on."""
    module = types.ModuleType("pynvml")
    module.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    module.shutdowns = []  # type: ignore[attr-defined]

    def init() -> None:
        if init_fails:
            raise NVMLError("NVML Shared Library Not Found")

    def query(name: str, value: Any) -> Any:
        def call(*args: Any) -> Any:
            if name in broken:
                raise NVMLError(f"{name}: Not Supported")
            return value(*args) if callable(value) else value
        return call

    functions = {
        "nvmlInit": init,
        "nvmlShutdown": lambda: module.shutdowns.append(True),  # type: ignore[attr-defined]
        "nvmlDeviceGetCount": query("count", count),
        "nvmlDeviceGetHandleByIndex": query("handle", lambda index: f"handle{index}"),
        "nvmlDeviceGetName": query("name", b"NVIDIA H200"),
        "nvmlDeviceGetUtilizationRates": query("util", types.SimpleNamespace(gpu=87, memory=30)),
        "nvmlDeviceGetMemoryInfo": query("memory", FakeMemory()),
        "nvmlDeviceGetTemperature": query("temperature", lambda handle, sensor: 64),
        "nvmlDeviceGetPowerUsage": query("power", 412_300),
        "nvmlDeviceGetComputeRunningProcesses": query("processes", lambda handle: (
            [types.SimpleNamespace(pid=4242)] if handle == f"handle{on_device}" else [])),
    }
    for name, function in functions.items():
        setattr(module, name, function)
    return module


class TestGpus:
    def test_without_pynvml_there_are_none(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """nvidia-ml-py not installed: no GPU, no error."""
        monkeypatch.setitem(sys.modules, "pynvml", None)
        assert hw.sample_gpus() == []

    def test_failing_init_gives_none(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """pynvml present but no driver (this machine): no GPU, no error."""
        monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(init_fails=True))
        assert hw.sample_gpus() == []

    def test_real_pynvml_without_a_gpu_is_quiet(self) -> None:
        """Whatever this machine has, sampling GPUs returns a list and raises nothing."""
        assert isinstance(hw.sample_gpus(), list)

    def test_fake_device_readings(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Name without `NVIDIA `, utilisation, memory, °C, watts; NVML is shut down."""
        module = fake_pynvml(count=2)
        monkeypatch.setitem(sys.modules, "pynvml", module)
        gpus = hw.sample_gpus()
        assert gpus == [H200, dataclasses.replace(H200, index=1)]
        assert module.shutdowns == [True]  # type: ignore[attr-defined]
        assert fit(gpu_forms(gpus[0]), 60) == "GPU0 H200 87% · 41.2/139.8 GiB · 64°C · 412 W"

    def test_unsupported_queries_are_none(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A device without power or temperature readings: those are None and left out."""
        monkeypatch.setitem(sys.modules, "pynvml",
                            fake_pynvml(broken=("power", "temperature", "name")))
        [gpu] = hw.sample_gpus()
        assert (gpu.name, gpu.power_w, gpu.temperature_c) == ("GPU", None, None)
        assert fit(gpu_forms(gpu), 60) == "GPU0 GPU 87% · 41.2/139.8 GiB"

    def test_failing_device_count_gives_none(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """NVML up but the count fails: no GPU."""
        monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(broken=("count",)))
        assert hw.sample_gpus() == []

    def test_only_the_trainers_gpus(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Of several GPUs, those the trainer computes on; all when it is on none found."""
        monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml(count=4, on_device=2))
        assert [gpu.index for gpu in hw.sample_gpus(pid=4242)] == [2]
        assert [gpu.index for gpu in hw.sample_gpus(pid=1)] == [0, 1, 2, 3]

    def test_sampler_opens_nvml_once_and_only_for_gpus(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """GPUs are read only when asked; NVML is initialised once across samples."""
        module = fake_pynvml()
        inits: list[bool] = []
        module.nvmlInit = lambda: inits.append(True)  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "pynvml", module)
        sampler = HardwareSampler(os.getpid())
        assert sampler.sample().gpus == () and inits == []
        assert sampler.sample(gpus=True).gpus == (H200,)
        assert sampler.sample(gpus=True).gpus == (H200,)
        sampler.close()
        assert inits == [True]

    def test_peak_memory_on_cpu_is_nothing(self) -> None:
        """A CPU run has no allocator peak to report."""
        assert hw.peak_memory_metrics("cpu") == {}

    def test_peak_memory_on_cuda_reads_and_resets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """On CUDA: the allocator's peak in MiB, then the peak is reset for the next epoch."""
        torch = pytest.importorskip("torch")
        resets: list[object] = []
        monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device: 3 * GIB)
        monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats", resets.append)
        device = torch.device("cuda:0")
        assert hw.peak_memory_metrics(device) == {"gpu_peak_mem_mb": 3072.0}
        assert resets == [device]


class TestLines:
    def test_cpu_line_by_width(self) -> None:
        """The trainer's line drops detail as the room shrinks."""
        forms = process_forms(process_sample())
        assert forms == [
            "trainer CPU 97% · RAM 1.2 GiB · host 14.1/23.5 GiB",
            "CPU 97% · RAM 1.2 GiB · host 14.1/23.5 GiB",
            "CPU 97% · RAM 1.2 GiB",
            "CPU 97% · RAM 1.2 GiB",
        ]
        assert fit(forms, 46) == "CPU 97% · RAM 1.2 GiB · host 14.1/23.5 GiB"
        assert fit(forms, 30) == "CPU 97% · RAM 1.2 GiB"
        assert fit(forms, 5) == "CPU 97% · RAM 1.2 GiB"

    def test_cpu_line_before_cpu_is_known_and_with_a_gpu_peak(self) -> None:
        """A first sample shows `CPU -`; a CUDA run adds its allocator peak."""
        sample = process_sample(cpu=None, used=None, total=None)
        assert fit(process_forms(sample, peak_mb=2048.0), 80) == (
            "trainer CPU - · RAM 1.2 GiB · GPU peak 2.0 GiB")

    def test_gpu_line_by_width(self) -> None:
        """Name first to go, then temperature and power."""
        forms = gpu_forms(H200)
        assert fit(forms, 45) == "GPU0 H200 87% · 41.2/139.8 GiB · 64°C · 412 W"
        assert fit(forms, 44) == "GPU0 87% · 41.2/139.8 GiB · 64°C · 412 W"
        assert fit(forms, 30) == "GPU0 87% · 41.2/139.8 GiB"

    def test_lines_of_a_sample(self) -> None:
        """The trainer's line, then one per GPU; nothing for an empty or missing sample."""
        sample = HardwareSample(process=process_sample(), gpus=(H200, H200))
        assert len(hardware_lines(sample, 48)) == 3
        assert hardware_lines(HardwareSample(gpus=(H200,)), 48) == [
            "GPU0 H200 87% · 41.2/139.8 GiB · 64°C · 412 W"]
        assert hardware_lines(HardwareSample(), 48) == []
        assert hardware_lines(None, 48) == []


class FakeSampler:
    """Fixed numbers; records whether GPUs were asked for."""

    def __init__(self, sample: HardwareSample) -> None:
        self.result = sample
        self.asked_gpus: list[bool] = []

    def sample(self, *, gpus: bool = False) -> HardwareSample:
        """The fixed sample, GPUs only when asked."""
        self.asked_gpus.append(gpus)
        return self.result if gpus else dataclasses.replace(self.result, gpus=())


CPU_ONLY = HardwareSample(process=process_sample())
ON_CUDA = HardwareSample(process=process_sample(cpu=101.0, rss=3.4 * GIB), gpus=(H200,))


def cuda_events() -> list[ev.Event]:
    """The recorded run as if on CUDA, its epochs reporting the allocator's peak."""
    events: list[ev.Event] = []
    for event in running_events():
        if isinstance(event, ev.RunStarted):
            event = dataclasses.replace(event, device="cuda:0")
        elif isinstance(event, ev.EpochEnded):
            peak = 30_000.0 + 1_000 * event.epoch
            event = dataclasses.replace(event, metrics={"gpu_peak_mem_mb": peak})
        events.append(event)
    return events


def hardware_app(sampler: object, events: list[ev.Event] | None = None):  # type: ignore[no-untyped-def]
    """An app held mid-run with `sampler` behind its hardware panel."""
    from trainui.core.control import Control
    from trainui.tui.app import TrainApp

    events = events or running_events()
    job = FakeJob(events, hold=True)
    app = TrainApp(job, Control(), clock=clock_after(events), hardware=sampler)  # type: ignore[arg-type]
    return app, job


async def sampled(pilot: Any, job: FakeJob, *, gpus: bool = False,
                  source: bool = True) -> HardwarePanel:
    """Settle the app, wait for a sample (with GPUs, if asked; none without a source) and
    show it."""
    await settle(pilot, job)
    panel = pilot.app.query_one(HardwarePanel)
    for _ in range(100 if source else 0):
        sample = panel.latest
        if sample is not None and (bool(sample.gpus) or not gpus):
            break
        panel.sample_soon()
        await asyncio.sleep(0.05)
    pilot.app.flush_panels()
    await pilot.pause()
    return panel


class TestPanel:
    @async_test
    async def test_cpu_run_shows_the_trainer(self) -> None:
        """On a CPU run the panel shows the trainer's line, and GPUs are not sampled."""
        fake = FakeSampler(ON_CUDA)
        app, job = hardware_app(fake)
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                panel = await sampled(pilot, job)
                assert panel.display and panel.has_class("-shown")
                assert str(panel.render()) == "CPU 101% · RAM 3.4 GiB · host 14.1/23.5 GiB"
                assert True not in fake.asked_gpus
        finally:
            job.release.set()

    @async_test
    async def test_cuda_run_shows_each_gpu_and_the_peak(self) -> None:
        """On CUDA: the trainer's line with its allocator peak, then a line per GPU."""
        fake = FakeSampler(ON_CUDA)
        app, job = hardware_app(fake, cuda_events())
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                panel = await sampled(pilot, job, gpus=True)
                assert str(panel.render()).splitlines() == [
                    "CPU 101% · RAM 3.4 GiB · GPU peak 32.2 GiB",
                    "GPU0 H200 87% · 41.2/139.8 GiB · 64°C · 412 W",
                ]
        finally:
            job.release.set()

    @async_test
    async def test_nothing_to_show_hides_it(self) -> None:
        """A sampler with nothing (no trainer process, no GPU), or none at all: hidden,
        and the header keeps the whole width."""
        for sampler in (FakeSampler(HardwareSample()), None):
            app, job = hardware_app(sampler)
            try:
                async with app.run_test(size=(120, 40)) as pilot:
                    panel = await sampled(pilot, job, source=sampler is not None)
                    assert not panel.has_class("-shown") and not panel.display
                    assert app.query_one("#header").outer_size.width == 120
            finally:
                job.release.set()

    @async_test
    async def test_a_failing_sampler_hides_it(self) -> None:
        """A sampler that raises never reaches the view: the panel is hidden."""
        class Broken:
            calls = 0

            def sample(self, *, gpus: bool = False) -> HardwareSample:
                Broken.calls += 1
                raise RuntimeError("no")

        app, job = hardware_app(Broken())
        try:
            async with app.run_test(size=(120, 40)) as pilot:
                panel = await sampled(pilot, job, source=False)
                for _ in range(100):
                    if Broken.calls:
                        break
                    panel.sample_soon()
                    await asyncio.sleep(0.05)
                assert Broken.calls
                await asyncio.sleep(0.1)
                pilot.app.flush_panels()
                await pilot.pause()
                assert not panel.display
        finally:
            job.release.set()


SIZES = [(80, 24), (120, 40)]


class TestHardwareSnapshots:
    @pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
    def test_cpu_run(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """A CPU run: the trainer's CPU %, RSS and the host's memory right of the header,
        shortened at 80 columns; charts keep their rows."""
        app, job = hardware_app(FakeSampler(CPU_ONLY))
        jobs.append(job)

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await sampled(pilot, job)

        assert snap_compare(app, terminal_size=size, run_before=run_before)

    @pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
    def test_cuda_run(self, snap_compare, jobs, size) -> None:  # type: ignore[no-untyped-def]
        """A CUDA run on one H200: the trainer's line with its allocator peak and the GPU's
        utilisation, memory, temperature and power, in the header's two rows."""
        app, job = hardware_app(FakeSampler(ON_CUDA), cuda_events())
        jobs.append(job)

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            await sampled(pilot, job, gpus=True)

        assert snap_compare(app, terminal_size=size, run_before=run_before)
