"""Facts about a running process that a benchmark reports, read with the standard library only (so a process that
times its own imports can load this first)."""

from __future__ import annotations

from pathlib import Path


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident memory (``VmRSS``) or its peak (``VmHWM``), MB (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0
