"""A training script of your own on torch.distributed (run it with torchrun): DDP, and
trainui.init in every process; rank 0 records the run."""

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import trainui

dist.init_process_group("gloo")
torch.manual_seed(0)
model = DistributedDataParallel(nn.Linear(8, 2))
optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
with trainui.init(config={"lr": 0.1}, epochs=200, steps_per_epoch=50, model=model,
                  batch_size=16, optimizer=optimizer) as run:
    for _epoch in range(run.epochs):
        for _step in range(50):
            inputs = torch.randn(16, 8)
            loss = nn.functional.cross_entropy(model(inputs), (inputs[:, 0] > 0).long())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            run.log({"loss": loss.detach()})
            if run.stop_requested:
                break
        run.end_epoch({"val_loss": float(loss)})
        if run.stop_requested:
            break
print(f"rank {dist.get_rank()} ended at step {run.global_step}", flush=True)
dist.destroy_process_group()
