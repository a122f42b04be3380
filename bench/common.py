"""Helpers shared by the benchmark scripts: timing, matmul peak, JSON output."""

from __future__ import annotations

import gzip
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


def read_json(path: str | Path) -> dict:
    """A result file, plain or gzipped (``bench/results`` keeps per-query results as ``.json.gz``); a ``.json`` path
    that was compressed since is read from its ``.json.gz``."""
    path = Path(path)
    if not path.exists() and Path(f"{path}.gz").exists():
        path = Path(f"{path}.gz")
    data = path.read_bytes()
    return json.loads(gzip.decompress(data) if path.suffix == ".gz" else data)


def write_gzip(path: Path, data: bytes) -> Path:
    """``data`` gzipped into ``path`` reproducibly (no name, no time in the header: the same bytes on any machine)."""
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed:
        packed.write(data)
    return path


def keep(folder: Path, name: str) -> Path:
    """An ``evaluate --out`` folder kept in ``bench/results/eval/``: ``NAME.json.gz`` (the summary with per-query
    values, gzipped reproducibly) and ``NAME.md`` (its table); returns the JSON's path."""
    (RESULTS / "eval").mkdir(parents=True, exist_ok=True)
    (RESULTS / "eval" / f"{name}.md").write_text((Path(folder) / "results.md").read_text())
    return write_gzip(RESULTS / "eval" / f"{name}.json.gz", (Path(folder) / "results.json").read_bytes())


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
