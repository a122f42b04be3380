"""Learning-rate schedule as a pure function of the step: linear warmup, then linear decay to zero."""

from __future__ import annotations


def lr_at(step: int, total_steps: int, warmup_steps: int, peak: float) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``."""
    if warmup_steps > 0 and step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    remaining = total_steps - step
    return peak * max(0.0, remaining / max(1, total_steps - warmup_steps))
