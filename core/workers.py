"""DataLoader worker processes: how many a machine takes, and that none outlives its trainer."""

from __future__ import annotations

import os
import signal

WORKERS_PER_CPU = 4
"""Workers beyond the CPU count only help while loading waits on disk or network; past a
few per CPU they only add memory (each holds a copy of the data set's state)."""

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity, as a container or taskset sets it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def max_workers() -> int:
    """The most DataLoader workers a run may ask for on this machine."""
    return WORKERS_PER_CPU * usable_cpus()


def die_with_parent() -> None:
    """Have the kernel kill this worker when its trainer dies, even by kill -9 (Linux).

    Called first in every worker. A trainer already gone by then would never send the
    signal, so the worker then ends itself.
    """
    import ctypes
    import multiprocessing

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return  # no prctl here: DataLoader's own watchdog still notices within seconds
    parent = multiprocessing.parent_process()
    if parent is not None and not parent.is_alive():
        os._exit(1)
