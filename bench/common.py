"""Helpers shared by the benchmark scripts: timing, matmul peak, JSON output."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import torch

from o1_retriever.model.quantization import cpu_flags

RESULTS = Path(__file__).parent / "results"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def matmul_gflops(size: int = 1024, seconds: float = 2.0) -> float:
    """Achieved fp32 GFLOP/s of a square matmul on this machine, now (the ceiling model FLOP/s are compared to)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        torch.mm(a, b)
        count += 1
    return 2 * size**3 * count / (time.perf_counter() - start) / 1e9


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - start, out


def cpu_features() -> list[str]:
    """The vector instruction sets of this CPU that change kernels and int8 results (empty where /proc is absent)."""
    return [flag for flag in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8") if flag in cpu_flags()]


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "features": cpu_features(),
        "threads": torch.get_num_threads(),
    }
    payload = {"machine": machine, **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path
