"""Several processes training one run (torchrun): the process group and its few collectives.

Each process of a job is a rank. One of them, the recording rank, holds the run directory:
it alone writes the run's files and reads its control channel; the others train and write
nothing. The recording rank is the one whose launcher prepared the run (global rank 0 when
torchrun starts trainui itself): c10d rendezvous numbers nodes in no fixed order.

The backend follows the tensors: gloo for CPU tensors, NCCL for CUDA ones. Collectives
happen only at throttle points, epoch ends and checkpoints, never per step.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from .errors import TrainuiError
from .workers import die_with_parent

RESTART_ENV = "TORCHELASTIC_RESTART_COUNT"
"""Set by torchrun's agent: how many times it restarted the job's processes."""


@dataclass(frozen=True)
class World:
    """This process's place in the job."""

    rank: int
    size: int
    local_rank: int
    local_size: int
    recorder: int
    """The rank that records the run."""

    @property
    def records(self) -> bool:
        """Whether this process writes the run's files."""
        return self.rank == self.recorder


_world: World | None = None


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher setting its variables) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def restarted() -> bool:
    """Whether torchrun's agent restarted this job after a process of it failed."""
    return int(os.environ.get(RESTART_ENV, "0") or 0) > 0


def local_rank() -> int:
    """This process's rank on its machine (0 outside torchrun)."""
    return int(os.environ.get("LOCAL_RANK", "0") or 0)


def current() -> World | None:
    """The job this process trains in, once `start` joined it; None for a lone process."""
    return _world


def start(holds_run: bool) -> World:
    """Join the job torchrun set up (`holds_run`: this process holds the run directory) and
    agree on the recording rank. The backend: gloo, with NCCL for CUDA tensors."""
    global _world
    die_with_parent()  # a rank ends with torchrun's agent, even one killed by kill -9
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = local_rank()
    cuda = torch.cuda.is_available() and local < torch.cuda.device_count()
    if cuda:
        torch.cuda.set_device(local)
    # The store outlives a restarted job's processes (torchrun's agent keeps it): keys of
    # this attempt apart, or a rank would read the address of a rank that died.
    store, _, _ = next(dist.rendezvous("env://"))
    attempt = dist.PrefixStore(f"trainui/attempt-{os.environ.get(RESTART_ENV, '0')}", store)
    dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo", store=attempt,
                            rank=rank, world_size=size)
    holders: list[Any] = [None] * size
    dist.all_gather_object(holders, holds_run)
    recorders = [index for index, holds in enumerate(holders) if holds]
    if len(recorders) != 1:
        raise TrainuiError(f"{len(recorders)} processes of the job hold a run directory "
                           "(exactly one must: start the job from one trainui command)")
    _world = World(rank, size, local, int(os.environ.get("LOCAL_WORLD_SIZE", size)),
                   recorders[0])
    return _world


def stop() -> None:
    """Leave the job (at the end of a process's training)."""
    global _world
    if _world is not None and dist.is_initialized():
        dist.destroy_process_group()
    _world = None


def device_for(world: World, device: torch.device) -> torch.device:
    """The device of this rank: its own GPU (by local rank) on CUDA."""
    if device.type == "cuda":
        return torch.device("cuda", world.local_rank)
    return device


def share(value: Any, world: World) -> Any:
    """The recording rank's `value` (pickled), on every rank."""
    box = [value]
    dist.broadcast_object_list(box, src=world.recorder, device=torch.device("cpu"))
    return box[0]


def gather(value: Any, world: World) -> list[Any]:
    """Every rank's `value` (pickled), in rank order, on every rank."""
    values: list[Any] = [None] * world.size
    dist.all_gather_object(values, value)
    return values


def summed(tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` summed over the ranks (in place), on this rank's device."""
    dist.all_reduce(tensor)
    return tensor


def share_weights(model: nn.Module, world: World) -> None:
    """Give every rank the recording rank's parameters and buffers (in place)."""
    for tensor in [*model.parameters(), *model.buffers()]:
        dist.broadcast(tensor.data, src=world.recorder)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """`model` in DistributedDataParallel on this rank's device."""
    from torch.nn.parallel import DistributedDataParallel

    ids: Sequence[int] | None = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=ids)
