"""Start a job of several training processes through torchrun's elastic agent.

`trainui train --nproc-per-node N` does not launch processes itself: it runs
`torch.distributed.run` (what the `torchrun` command runs) in-process, with trainui's
trainer as the module each rank runs. The agent restarts failed jobs (`--max-restarts`),
and it passes SIGTERM/SIGINT on to every rank. One machine needs no rendezvous address
(torchrun's `--standalone`); several meet through c10d at `--rdzv-endpoint`, which the
machine of node rank 0 hosts. Torch is imported only to launch, never to check options.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

from .errors import TrainuiError
from .outcome import ExitCode

TRAINER_MODULE = "trainui.core.trainer_process"
RANK_FLAG = "--rank"
"""The trainer's argument on a machine that does not hold the run (node rank above 0)."""
ENDPOINT_FLAG = "--rdzv-endpoint"
RENDEZVOUS_ID = "trainui"


@dataclass(frozen=True)
class JobShape:
    """How a job of several processes is laid out and where its machines meet."""

    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: int = 0
    endpoint: str | None = None
    max_restarts: int = 0

    @property
    def several(self) -> bool:
        """Whether this is a job of more than one process (else a lone trainer)."""
        return self.nproc_per_node * self.nnodes > 1

    def check(self) -> JobShape:
        """TrainuiError for a layout that cannot run; return self."""
        if self.nnodes > 1 and not self.endpoint:
            raise TrainuiError(f"--nnodes {self.nnodes} needs --rdzv-endpoint HOST:PORT (the "
                               "address of the machine with node rank 0)")
        if not 0 <= self.node_rank < self.nnodes:
            raise TrainuiError(f"--node-rank must be between 0 and {self.nnodes - 1} for "
                               f"--nnodes {self.nnodes}, got {self.node_rank}")
        if self.endpoint:
            endpoint_parts(self.endpoint)
        return self


def endpoint_parts(endpoint: str) -> tuple[str, int]:
    """(host, port) of HOST:PORT, or TrainuiError."""
    host, _, port = endpoint.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise TrainuiError(f"--rdzv-endpoint must be HOST:PORT (a port from 1 to 65535), "
                           f"got {endpoint!r}")
    return host, int(port)


def check_can_host(shape: JobShape) -> None:
    """On the machine that hosts the rendezvous: TrainuiError if its port is taken."""
    if shape.node_rank != 0 or not shape.endpoint:
        return
    host, port = endpoint_parts(shape.endpoint)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("", port))
        except OSError:
            raise TrainuiError(f"the rendezvous port {port} is busy: another program (or "
                               f"job) listens on it; choose another --rdzv-endpoint "
                               f"{host}:PORT") from None


def check_devices(shape: JobShape, device: str) -> None:
    """TrainuiError when the job puts more processes on this machine than it has GPUs
    (training on CUDA, which `auto` picks when present)."""
    if device not in ("auto", "cuda") or shape.nproc_per_node == 1:
        return
    import torch

    if not torch.cuda.is_available():
        return
    count = torch.cuda.device_count()
    if shape.nproc_per_node > count:
        raise TrainuiError(f"--nproc-per-node {shape.nproc_per_node} is more than the "
                           f"{count} GPU{'' if count == 1 else 's'} of this machine (one "
                           "process a GPU; --device cpu trains on the CPU)")


def torchrun_arguments(shape: JobShape, trainer_args: list[str]) -> list[str]:
    """The `torchrun` command line (without `torchrun`) that runs the trainer."""
    args = ["--nproc-per-node", str(shape.nproc_per_node), "--nnodes", str(shape.nnodes),
            "--max-restarts", str(shape.max_restarts)]
    if shape.endpoint:
        hosts = "1" if shape.node_rank == 0 else "0"
        args += ["--rdzv-backend", "c10d", "--rdzv-endpoint", shape.endpoint,
                 "--rdzv-id", RENDEZVOUS_ID, "--rdzv-conf", f"is_host={hosts}"]
    else:
        args.append("--standalone")
    return [*args, "--module", TRAINER_MODULE, *trainer_args]


def trainer_arguments(run_dir: Path | None, *, resume: bool, extend: bool) -> list[str]:
    """What each rank's trainer is given: the run (on the machine holding it), else
    RANK_FLAG."""
    if run_dir is None:
        return [RANK_FLAG]
    return [str(run_dir), *(["--resume"] if resume else []), *(["--extend"] if extend else [])]


def run_job(shape: JobShape, trainer_args: list[str]) -> int:
    """Run torchrun's agent here until the job ends; return its exit status (a rank's
    own status when one failed; 128+N after signal N)."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(torchrun_arguments(shape, trainer_args))
    try:
        run(args)
    except ChildFailedError as failed:
        _, failure = failed.get_first_failure()
        return _status(failure.exitcode)
    except SignalException as stopped:
        return 128 + int(stopped.sigval)
    return ExitCode.OK


def _status(exit_code: int) -> int:
    if exit_code < 0:  # killed by a signal
        with contextlib.suppress(ValueError):
            return 128 + int(signal.Signals(-exit_code))
        return ExitCode.FAILED
    return exit_code or ExitCode.FAILED
