"""torchrun support: one process per device, DistributedDataParallel, rank 0 alone writes the run."""

from __future__ import annotations

import os
from dataclasses import dataclass

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


def setup(device: torch.device) -> Dist:
    """Join the process group torchrun set up (NCCL on GPUs, gloo on the CPU)."""
    if not under_torchrun():
        return Dist()
    import torch.distributed as td

    if not td.is_initialized():
        td.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return Dist(td.get_rank(), td.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


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


def shutdown(dist: Dist) -> None:
    if dist.active:
        import torch.distributed as td
        if td.is_initialized():
            td.destroy_process_group()
