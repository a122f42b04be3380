"""A persistent thought cache (SQLite): a repeated query skips generation and gets identical thoughts and vectors.

Keyed by model fingerprint, query and generation settings. Safe with several processes (WAL, busy timeout,
first write wins).
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_SCHEMA = """
CREATE TABLE IF NOT EXISTS thoughts (
    key TEXT PRIMARY KEY,
    thoughts TEXT NOT NULL,
    dim INTEGER NOT NULL,
    thought_vectors BLOB NOT NULL,
    query_vector BLOB NOT NULL
)
"""


@dataclass(frozen=True)
class CachedThoughts:
    thoughts: list[str]
    thought_vectors: np.ndarray  # (k, dim) unit rows
    query_vector: np.ndarray  # (dim,) the thought-free vector


_BUSY_TIMEOUT_S = 60.0
logger = logging.getLogger(__name__)


def _retry_while_locked(statement, timeout_s: float = _BUSY_TIMEOUT_S):
    """Run `statement`, retrying while another connection holds the lock it needs.

    SQLite answers "database is locked" at once, without waiting for the busy timeout, when waiting could deadlock:
    two processes opening a new cache both hold a read lock while each asks for the write lock that switching to WAL
    needs. One of them must back off and try again.
    """
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            return statement()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def _decoded(thoughts, dim, thought_vectors, query_vector) -> CachedThoughts | None:
    """A row as an entry, or None when it cannot be read (bad JSON, vectors of the wrong size)."""
    try:
        texts = json.loads(thoughts)
        vectors = np.frombuffer(thought_vectors, dtype=np.float32).reshape(-1, dim).copy()
        query = np.frombuffer(query_vector, dtype=np.float32).copy()
    except (ValueError, TypeError):  # JSONDecodeError is a ValueError, as is a reshape that does not fit
        return None
    if not isinstance(texts, list) or len(texts) != len(vectors) or query.shape != (dim,):
        return None
    return CachedThoughts(texts, vectors, query)


def cache_key(fingerprint: str, query: str, settings: dict) -> str:
    payload = json.dumps({"model": fingerprint, "query": query, **settings}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class ThoughtCache:
    """A file that is not a readable cache (truncated, overwritten) is moved aside with a warning naming where, and a
    fresh cache is started; a row that cannot be read is a miss, and is rewritten by the next thoughts for it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as error:
            if "locked" in str(error):
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
            for suffix in ("", "-wal", "-shm"):
                part = self.path.with_name(self.path.name + suffix)
                if part.exists():
                    part.replace(aside.with_name(aside.name + suffix))
            logger.warning(
                "thought cache %s could not be read (%s): moved to %s; starting a new one", path, error, aside
            )
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None)
        try:
            _retry_while_locked(lambda: db.execute("PRAGMA journal_mode=WAL"))
            _retry_while_locked(lambda: db.execute(_SCHEMA))
            db.execute("SELECT COUNT(*) FROM thoughts").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def get_many(self, keys: list[str]) -> dict[str, CachedThoughts]:
        found: dict[str, CachedThoughts] = {}
        bad: list[str] = []
        with self._lock:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                rows = self._db.execute(
                    f"SELECT key, thoughts, dim, thought_vectors, query_vector FROM thoughts "
                    f"WHERE key IN ({','.join('?' * len(chunk))})",
                    chunk,
                ).fetchall()
                for key, *columns in rows:
                    entry = _decoded(*columns)
                    if entry is None:
                        bad.append(key)
                    else:
                        found[key] = entry
            if bad:  # a miss now; deleted so that the next thoughts for it are written
                logger.warning("thought cache %s: %d unreadable row(s) treated as misses", self.path, len(bad))
                self._db.executemany("DELETE FROM thoughts WHERE key = ?", [(k,) for k in bad])
        return found

    def put_many(self, entries: dict[str, CachedThoughts]) -> None:
        rows = [
            (
                key,
                json.dumps(e.thoughts),
                int(e.query_vector.shape[0]),
                np.ascontiguousarray(e.thought_vectors, dtype=np.float32).tobytes(),
                np.ascontiguousarray(e.query_vector, dtype=np.float32).tobytes(),
            )
            for key, e in entries.items()
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("INSERT OR IGNORE INTO thoughts VALUES (?, ?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM thoughts").fetchone()[0]

    def close(self) -> None:
        self._db.close()
