"""Vectors of a long list of texts, cached on disk and embedded chunk by chunk, so an interrupted run resumes.

Embedding a corpus or a training set's passages takes minutes to an hour on a CPU. ``cached_vectors`` keeps each
finished chunk on disk (``<stem>-items<start>-<stop>.npy``: a rerun with another chunk size never misreads one), so a
crash, Ctrl-C or a session's end loses at most one chunk; when every chunk is done they are joined into
``<stem>.npy`` and removed. The ``.npy`` file is written last and atomically: it exists only when complete, and a
reader never sees half of one.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm


def cached_vectors(
    stem: Path,
    count: int,
    embed: Callable[[int, int], np.ndarray],
    chunk_size: int = 1024,
    progress: str | None = None,
) -> tuple[np.ndarray, float]:
    """The vectors of items ``0..count-1`` (``embed(start, stop)`` embeds items ``start..stop-1``), from
    ``<stem>.npy`` when an earlier run finished them; and the seconds embedding took, summed over every run that
    did a share (0.0 for a cache written before seconds were recorded). ``stem`` names the items: a new list of
    texts needs a new stem. ``progress``: a progress bar with this label."""
    if count < 1:
        raise ValueError(f"nothing to embed for {stem.name}: the list of texts is empty")
    if _file(stem, ".npy").exists():
        return np.load(_file(stem, ".npy")), _seconds(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    parts, seconds = [], 0.0
    starts = range(0, count, chunk_size)
    for start in tqdm(starts, desc=progress, unit="chunk", disable=progress is None):
        stop = min(start + chunk_size, count)
        part = stem.with_name(f"{stem.name}-items{start:09d}-{stop:09d}")
        if not _file(part, ".npy").exists():
            begun = time.perf_counter()
            vectors = embed(start, stop)
            if len(vectors) != stop - start:
                raise RuntimeError(f"embedding items {start}..{stop - 1} gave {len(vectors)} vectors")
            _write(part, vectors, time.perf_counter() - begun)
        seconds += _seconds(part)
        parts.append(part)
    vectors = np.concatenate([np.load(_file(p, ".npy")) for p in parts])
    _write(stem, vectors, seconds)
    for leftover in stem.parent.glob(f"{stem.name}-items*"):  # this run's chunks, and any of another chunk size
        leftover.unlink(missing_ok=True)
    return vectors, seconds


def _save_atomically(path: Path, array: np.ndarray) -> None:
    """``np.save`` to a temporary file, then renamed: ``path`` is either the whole array or absent (two processes
    writing the same array each rename a whole file of their own)."""
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
    np.save(tmp, array)
    tmp.replace(path)


def _write(stem: Path, vectors: np.ndarray, seconds: float) -> None:
    _file(stem, ".json").write_text(json.dumps({"seconds": seconds, "items": len(vectors)}))
    _save_atomically(_file(stem, ".npy"), vectors)  # last: its presence means done


def _file(stem: Path, suffix: str) -> Path:
    return stem.with_name(stem.name + suffix)  # not with_suffix: a stem may hold a dot


def _seconds(stem: Path) -> float:
    record = _file(stem, ".json")
    return json.loads(record.read_text())["seconds"] if record.exists() else 0.0
