"""An experiment kept for ``bench.int8_kl`` (scheme ``exact-int4``), not a product path: the linear layers whose
weights already are 4-bit, kept 4-bit exactly, in torch's packed int4 CPU kernel with bf16 activations.

A thinker de-quantised from GGUF Q4_0/Q4_1 (the built-in SmolLM2 is Q4_1: all 210 of its body's linear layers) holds,
in every group of 32 inputs of a row, at most 16 evenly spaced values, so int4 loses nothing but bf16's rounding of
the activations and of each group's step and offset. Measured on the shipped thinker (``bench/results/int8-kl.json``):
next-token KL to fp32 0.008 nats against 0.031 for smoothed int8 (the head stays int8), at the same speed for one
query; but the kernel's time grows with the rows it multiplies (a 1536x576 layer: 540 us for 24 rows against 129 us
in int8), so 8 concurrent queries ran 1.5x slower (``bench/results/latency-exact-int4.json``). Not shipped.
"""

from __future__ import annotations

import functools

import torch

#: inputs per group of a 4-bit grid (GGUF Q4_0/Q4_1 blocks)
GROUP = 32


def _on_grid(groups: torch.Tensor, steps: torch.Tensor, low: torch.Tensor) -> torch.Tensor | None:
    """The 4-bit codes of ``groups`` (..., group) on the grids ``low + code * steps``, or None if a value is off its
    grid or beyond 16 levels."""
    codes = ((groups - low[..., None]) / torch.where(steps > 0, steps, 1.0)[..., None]).round()
    error = (codes * steps[..., None] + low[..., None] - groups).abs().amax(-1)
    return codes if codes.max() <= 15 and bool((error <= 1e-3 * steps).all()) else None


def _smallest_gaps(groups: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each group's smallest gap between distinct values (0 for a constant group) and its least value."""
    ordered = groups.sort(-1).values
    gaps = ordered.diff(dim=-1)
    steps = torch.where(gaps > 0, gaps, torch.inf).amin(-1)
    return torch.where(torch.isinf(steps), 0.0, steps), ordered[..., 0]


def four_bit_grid(weight: torch.Tensor, group: int = GROUP) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """``(codes, steps, offsets)`` with ``weight == offsets + codes * steps`` in every group of ``group`` inputs of a
    row (codes 0-15; steps and offsets per row and group) if the weight lies on such a grid, else None. A group's step
    is the smallest gap between its distinct values, so a grid is found whichever of its 16 levels are used; the first
    row is tried first, so a weight off any grid is refused at once."""
    rows, columns = weight.shape
    if columns % group:
        return None
    groups = weight.detach().float().reshape(rows, columns // group, group)
    if _on_grid(groups[:1], *_smallest_gaps(groups[:1])) is None:
        return None
    low, high = groups.amin(-1), groups.amax(-1)
    steps = (high - low) / 15  # every level used from the least to the greatest (Q4_1 always): no sort needed
    codes = _on_grid(groups, steps, low)
    if codes is None:
        steps, low = _smallest_gaps(groups)
        codes = _on_grid(groups, steps, low)
    return None if codes is None else (codes.reshape(rows, columns).to(torch.int32), steps, low)


@functools.cache
def int4_supported() -> bool:
    """Whether torch's CPU int4 kernel runs here, on a CPU with bf16 arithmetic (elsewhere it is slower than int8)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "").split()
        if not {"avx512_bf16", "amx_bf16"} & set(flags):
            return False
        Int4Linear(torch.nn.Linear(GROUP, 16, bias=False), *four_bit_grid(torch.zeros(16, GROUP)))(torch.ones(1, GROUP))
    except (OSError, RuntimeError, NotImplementedError, AttributeError, TypeError):
        return False
    return True


class Int4Linear(torch.nn.Module):
    """A linear layer whose weights are 4-bit codes on a per-group grid (``four_bit_grid``), multiplied by torch's
    packed int4 CPU kernel with bf16 activations: the weights as they were, up to bf16 rounding of each group's step
    and offset, in half the bytes of int8."""

    def __init__(self, linear: torch.nn.Linear, codes: torch.Tensor, steps: torch.Tensor, offsets: torch.Tensor):
        super().__init__()
        self._packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(codes, 1)
        # the kernel computes (code - 8) * step + zero per group: zero = offset + 8 * step; layout (groups, rows, 2)
        self._steps_and_zeros = torch.stack([steps.T, (offsets + 8 * steps).T], -1).to(torch.bfloat16).contiguous()
        self.bias = None if linear.bias is None else linear.bias.detach().float()
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.reshape(-1, self.in_features).to(torch.bfloat16)
        y = torch.ops.aten._weight_int4pack_mm_for_cpu(flat, self._packed, GROUP, self._steps_and_zeros)
        y = y.float().reshape(*x.shape[:-1], self.out_features)
        return (y if self.bias is None else y + self.bias).to(x.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int4 (exact)"


def exact_int4_layers(model: torch.nn.Module) -> int:
    """Replace every plain linear layer whose weights lie on a 4-bit grid by an ``Int4Linear`` (in place, where the
    kernel runs); returns how many."""
    if not int4_supported():
        return 0
    replaced = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is not torch.nn.Linear or child.out_features % 16:  # the kernel packs rows by 16
                continue
            if (grid := four_bit_grid(child.weight)) is not None:
                setattr(module, name, Int4Linear(child, *grid))
                replaced += 1
    return replaced
