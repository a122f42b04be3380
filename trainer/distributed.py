"""Training across processes (``torchrun``): the process group, sums, gathered rows and summed gradients. Each is
the identity in a single process."""

from __future__ import annotations

import os

import torch


def world() -> tuple[int, int]:
    """(rank, world size); starts the process group when launched by torchrun."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank(), size) if size > 1 else (0, 1)


def all_sum(value: float) -> float:
    if torch.distributed.is_initialized():
        tensor = torch.tensor([value], dtype=torch.float64)
        torch.distributed.all_reduce(tensor)
        return float(tensor.item())
    return value


def gather_rows(rows: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Every process's rows (passage vectors keep their gradients; keys have none) and where this process's rows
    start."""
    if not torch.distributed.is_initialized():
        return rows, 0
    from torch.distributed.nn.functional import all_gather

    sizes = [torch.zeros(1, dtype=torch.long) for _ in range(torch.distributed.get_world_size())]
    torch.distributed.all_gather(sizes, torch.tensor([rows.shape[0]]))
    sizes = [int(s) for s in sizes]
    padded = torch.cat([rows, rows.new_zeros(max(sizes) - rows.shape[0], *rows.shape[1:])])
    gathered = all_gather(padded)
    rank = torch.distributed.get_rank()
    return torch.cat([g[:s] for g, s in zip(gathered, sizes)]), sum(sizes[:rank])


def sum_gradients(params: list[torch.nn.Parameter]) -> None:
    if torch.distributed.is_initialized():
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            torch.distributed.all_reduce(p.grad)
