"""torchrun support: one process per device, DistributedDataParallel, rank 0 alone writes the run."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def under_torchrun() -> bool:
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


# How long a rank waits at a collective: the other ranks wait there while rank 0 alone fills the
# workspace cache, which takes far longer than torch's default 30 minutes on the whole VinDr set.
TIMEOUT = timedelta(hours=3)


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def setup(device: torch.device) -> Dist:
    """Join the process group torchrun set up (NCCL on GPUs, gloo on the CPU)."""
    if not under_torchrun():
        return Dist()
    import torch.distributed as td

    if device.type == "cuda":   # before NCCL's first collective, or it guesses the device from the rank
        torch.cuda.set_device(device)
    if not td.is_initialized():
        td.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=TIMEOUT)
    return Dist(td.get_rank(), td.get_world_size(), local_rank())


def current() -> Dist:
    """The process group this process has joined (setup), or a single process."""
    import torch.distributed as td

    if not (td.is_available() and td.is_initialized()):
        return Dist()
    return Dist(td.get_rank(), td.get_world_size(), local_rank())


def wrap(module: torch.nn.Module, dist: Dist, device: torch.device) -> torch.nn.Module:
    if not dist.active:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(module, device_ids=ids)


def unwrap(module: torch.nn.Module) -> torch.nn.Module:
    return getattr(module, "module", module)


def weight_spread(modules: list[torch.nn.Module], dist: Dist) -> float:
    """Largest difference between ranks of a checksum of all weights (0.0 when in step)."""
    if not dist.active:
        return 0.0
    import torch.distributed as td

    total = sum(p.detach().double().sum() for m in modules for p in unwrap(m).parameters())
    mine = torch.tensor([float(total)], dtype=torch.float64)
    if torch.cuda.is_available() and td.get_backend() == "nccl":
        mine = mine.cuda()
    gathered = [torch.zeros_like(mine) for _ in range(dist.world)]
    td.all_gather(gathered, mine)
    values = [float(g) for g in gathered]
    return max(values) - min(values)


def any_rank(flag: bool, dist: Dist, device: torch.device) -> bool:
    """True on every rank when it is True on any (a cancel must stop all ranks at the same step)."""
    if not dist.active:
        return flag
    import torch.distributed as td

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item())


def barrier(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as td
        td.barrier()


def main_first(dist: Dist, make):
    """`make()` on rank 0, then on the others: what rank 0 wrote, they find on disk and only read.
    (No barrier when rank 0 fails: it ends the run, and torchrun stops the waiting ranks.)"""
    if dist.is_main:
        out = make()
        barrier(dist)
        return out
    barrier(dist)
    return make()


def sum_ranks(t: torch.Tensor, dist: Dist) -> torch.Tensor:
    """The tensor summed over the ranks (itself in a single process)."""
    if dist.active:
        import torch.distributed as td
        t = t.clone()
        td.all_reduce(t, op=td.ReduceOp.SUM)
    return t


def from_main(value, dist: Dist):
    """Rank 0's `value` (any picklable object) on every rank."""
    if not dist.active:
        return value
    import torch.distributed as td

    box = [value]
    td.broadcast_object_list(box, src=0)
    return box[0]


def sync_buffers(module: torch.nn.Module, dist: Dist) -> None:
    """Rank 0's buffers (batch-norm statistics) on every rank. DDP sends them at each forward, so after
    the last step each rank holds rank 0's plus one update from its own batch."""
    if dist.active:
        import torch.distributed as td
        for b in unwrap(module).buffers():
            td.broadcast(b.data, src=0)


def shutdown(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as td
        if td.is_initialized():
            td.destroy_process_group()
