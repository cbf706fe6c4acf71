"""Multi-process training with torch.distributed, as launched by ``torchrun``.

``torchrun --nproc_per_node N -m gankit train ...`` starts N processes; each
finds its rank in the environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``).
The design makes N processes with ``train.batch_size`` B each follow the
trajectory of one process with batch N*B:

- every rank seeds the same generator and draws the same stream (data,
  initialisation, each epoch's order and noise) as that single process; the
  order is cut into global batches of N*B and rank r takes rows r*B:(r+1)*B
  of each (a distributed sampler over one shared permutation). The seed is the
  same on every rank on purpose: per-rank seeds would make a different run;
- G and D are wrapped in `DistributedDataParallel` (gloo on the CPU, nccl
  when the networks are on a GPU) with a communication hook that SUMS
  gradients over ranks instead of averaging: the losses are sums over the
  batch (the chapter's convention), so the summed gradient is exactly the
  single process's gradient over the N*B examples;
- BatchNorm: on a GPU it becomes `SyncBatchNorm`, so batch statistics are
  over the global batch, as in one process; torch's SyncBatchNorm does not
  run on the CPU, so there each process normalises over its own B examples
  (close to, not exactly, the single process);
- only rank 0 writes the run directory; the per-epoch losses are summed
  over ranks before they are logged.

``train.batch_size`` is therefore the per-process batch under torchrun.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0


def world_from_env() -> World:
    """This process's place, from torchrun's environment (one process when unset)."""
    try:
        return World(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                     int(os.environ.get("LOCAL_RANK", 0)))
    except ValueError:
        return World()


def init_process_group(world: World, device: torch.device) -> None:
    """Join the process group torchrun set up (gloo on the CPU, nccl on a GPU)."""
    if world.size <= 1 or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=world.rank, world_size=world.size,
                            timeout=datetime.timedelta(minutes=10))


def destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def sum_over_ranks(x: torch.Tensor) -> torch.Tensor:
    """``x`` summed over all processes (``x`` itself when there is one)."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return x
    x = x.clone()
    dist.all_reduce(x)
    return x


def wrap(state, world: World) -> None:
    """Wrap ``state.G`` and ``state.D`` for training on ``world`` (in place).

    Sets ``state.ddp`` to the DistributedDataParallel modules the loop trains
    through; ``state.G`` / ``state.D`` stay the plain networks (shared
    parameters), so saving and sampling never see the wrapper.
    """
    state.rank, state.world_size = world.rank, world.size
    if world.size <= 1:
        return
    from torch.nn.parallel import DistributedDataParallel as DDP

    device = next(state.G.parameters()).device
    if device.type == "cuda":
        torch.cuda.set_device(device)  # nccl works on the current device: this process's GPU
    init_process_group(world, device)
    if device.type == "cuda":
        state.G = nn.SyncBatchNorm.convert_sync_batchnorm(state.G)
        state.D = nn.SyncBatchNorm.convert_sync_batchnorm(state.D)
    ids = [device.index] if device.type == "cuda" else None
    ddp = []
    for net in (state.G, state.D):
        wrapped = DDP(net, device_ids=ids)
        wrapped.register_comm_hook(None, _allreduce_sum)
        ddp.append(wrapped)
    state.ddp = (ddp[0], ddp[1])


def _allreduce_sum(process_group, bucket):
    """DDP communication hook: sum gradients over ranks (DDP's default averages)."""
    group = process_group if process_group is not None else dist.group.WORLD
    work = dist.all_reduce(bucket.buffer(), group=group, async_op=True)
    return work.get_future().then(lambda fut: fut.value()[0])


__all__ = ["World", "world_from_env", "init_process_group", "destroy_process_group", "sum_over_ranks",
           "wrap"]
