"""torch's CPU threads: set only when asked (``threads=``, ``$O1_RETRIEVER_THREADS``, the CLI's ``--threads``), never
by importing the package or loading a model alone; the CLI picks its own process's default (batch commands every
usable core, serving ones half)."""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)

#: Environment variable naming the CPU threads torch may use (``threads=`` and ``--threads`` win over it).
THREADS_ENV = "O1_RETRIEVER_THREADS"


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads(batch: bool) -> int:
    """The CLI's default: every usable core for a batch command that owns the machine (index, evaluate, training),
    half of them for serving, which shares it (torch's threads collapse when other processes are busy)."""
    cores = usable_cores()
    return cores if batch else max(1, cores // 2)


def requested_threads(threads: int | None = None) -> int | None:
    """``threads``, else ``$O1_RETRIEVER_THREADS``; None when neither asks for a number."""
    if threads is None:
        value = os.environ.get(THREADS_ENV, "").strip()
        if not value:
            return None
        try:
            threads = int(value)
        except ValueError:
            raise ValueError(f"{THREADS_ENV} must be a whole number of threads, got {value!r}") from None
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    return threads


def set_threads(threads: int | None = None) -> int | None:
    """Set torch's intra-op threads to ``requested_threads(threads)``; returns it (None: torch left as it is)."""
    import torch

    threads = requested_threads(threads)
    if threads is None:
        return None
    cores = usable_cores()
    if threads > cores:
        logger.warning(
            "%d threads on %d usable cores: torch's threads then wait for each other, and a thinking query can take "
            "many times longer when the machine is busy; use at most the cores",
            threads,
            cores,
        )
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
