"""Running training metrics kept on the device as per-step values, read at throttle points."""

from __future__ import annotations

from collections.abc import Callable

import torch

Reduce = Callable[[torch.Tensor], torch.Tensor]
"""Sums a tensor over the ranks of a job (`distributed.summed`)."""

# Per-step scalars are packed into one tensor past this many, so memory stays bounded
# between throttle points without reading anything back from the device.
_COMPACT_AT = 1024


class RunningMetrics:
    """Sums and counts of loss and correct predictions over an epoch.

    `add` only queues device scalars (no host-device sync); `read` copies everything queued
    to the host in one transfer and folds it into host sums. The sums and counts are what a
    multi-process run all-reduces: given a `Reduce`, `read` and `reduce_sums` count every
    rank's steps (`own_count` stays this process's own samples).
    """

    def __init__(self) -> None:
        self.loss_sum = 0.0
        self.correct = 0
        self.count = 0
        self.own_count = 0
        self._losses: list[torch.Tensor] = []
        self._correct: list[torch.Tensor] = []
        self._sizes: list[int] = []

    def add(self, loss: torch.Tensor, correct: torch.Tensor, size: int) -> None:
        """Queue one step's mean loss, correct count and batch size."""
        self._losses.append(loss)
        self._correct.append(correct)
        self._sizes.append(size)
        if len(self._losses) >= _COMPACT_AT:
            self._compact()

    def read(self, reduce: Reduce | None = None) -> list[float]:
        """Fold queued steps into the sums; return their per-step losses (one sync).

        With `reduce`, each step counts every rank's batch: the ranks must have queued the
        same number of steps (training steps of a DistributedSampler do)."""
        if not self._losses:
            return []
        losses = torch.cat([t.reshape(-1).float() for t in self._losses])
        correct = torch.cat([t.reshape(-1).float() for t in self._correct])
        sizes = self._sizes
        self.own_count += sum(sizes)
        if reduce is not None:
            return self._read_reduced(losses, correct, reduce)
        loss_values, correct_values = torch.stack((losses, correct)).tolist()
        self.loss_sum += sum(v * n for v, n in zip(loss_values, sizes, strict=True))
        self.correct += int(round(sum(correct_values)))
        self.count += sum(sizes)
        self._losses, self._correct, self._sizes = [], [], []
        return loss_values

    def _read_reduced(self, losses: torch.Tensor, correct: torch.Tensor, reduce: Reduce
                      ) -> list[float]:
        sizes = torch.tensor(self._sizes, dtype=torch.float64, device=losses.device)
        rows = reduce(torch.stack((losses.double() * sizes, correct.double(), sizes)))
        weighted, correct_values, all_sizes = rows.tolist()
        self.loss_sum += sum(weighted)
        self.correct += int(round(sum(correct_values)))
        self.count += int(round(sum(all_sizes)))
        self._losses, self._correct, self._sizes = [], [], []
        return [w / n for w, n in zip(weighted, all_sizes, strict=True)]

    def reduce_sums(self, reduce: Reduce) -> None:
        """Fold what is queued, then make the sums every rank's (a rank may have read
        fewer steps than another, or none)."""
        self.read()
        sums = reduce(torch.tensor([self.loss_sum, self.correct, self.count],
                                   dtype=torch.float64))
        loss_sum, correct, count = sums.tolist()
        self.loss_sum, self.correct, self.count = loss_sum, int(round(correct)), int(round(count))

    @property
    def own_samples(self) -> int:
        """This process's samples so far, read or not."""
        return self.own_count + sum(self._sizes)

    @property
    def pending_steps(self) -> int:
        """Steps added since the last `read`."""
        return len(self._sizes)

    @property
    def mean_loss(self) -> float:
        """Mean loss per sample over the steps read so far."""
        return self.loss_sum / self.count if self.count else float("nan")

    @property
    def accuracy(self) -> float:
        """Fraction of correct predictions over the steps read so far."""
        return self.correct / self.count if self.count else float("nan")

    def _compact(self) -> None:
        # Keeps the order of steps; sizes stay a per-step host list.
        self._losses = [torch.cat([t.reshape(-1).float() for t in self._losses])]
        self._correct = [torch.cat([t.reshape(-1).float() for t in self._correct])]
