"""Micro-batching: concurrent calls gathered for a few milliseconds into one call, so that the generation of eight
concurrent thinking queries costs little more than one (a CPU generates a batch of 8 nearly as fast as 1 prompt).

Leader and followers, no background thread: the first caller to find no open batch opens one, waits ``window_s``
(again while calls keep joining, up to ``max_wait_s``, and for any batch still running), closes it and runs it;
callers that arrive meanwhile join and wait for their
share of the result. Calls with different options run as separate groups of the same batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class _Call:
    items: list
    key: Hashable
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class MicroBatcher:
    """Runs ``run(items, key)`` for the items of all concurrent ``submit(items, key)`` calls of the same ``key``
    together; ``split(result, sizes)`` cuts a result back into each caller's share."""

    def __init__(
        self,
        run: Callable[[list, Hashable], Any],
        split: Callable[[Any, list[int]], list],
        window_s: float = 0.005,
        max_wait_s: float = 0.05,
    ) -> None:
        self.run, self.split, self.window_s, self.max_wait_s = run, split, window_s, max_wait_s
        self._lock = threading.Lock()  # guards the open batch
        self._running = threading.Lock()  # one batch runs at a time
        self._open: list[_Call] | None = None

    def submit(self, items: list, key: Hashable) -> Any:
        call = _Call(list(items), key)
        with self._lock:
            leader = self._open is None
            if leader:
                self._open = []
            self._open.append(call)
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result
        self._gather()
        with self._running:
            with self._lock:
                batch, self._open = self._open, None
            self._run_batch(batch)
        if call.error is not None:
            raise call.error
        return call.result

    def _gather(self) -> None:
        """Wait ``window_s``, and again while calls keep joining (threads that were started together reach the
        batcher a few milliseconds apart), for at most ``max_wait_s`` in all."""
        began = time.perf_counter()
        joined = -1
        while True:
            time.sleep(self.window_s)
            with self._lock:
                now = len(self._open or [])
            if now == joined or time.perf_counter() - began >= self.max_wait_s:
                return
            joined = now

    def _run_batch(self, batch: list[_Call]) -> None:
        groups: dict[Hashable, list[_Call]] = {}
        for call in batch:
            groups.setdefault(call.key, []).append(call)
        for key, calls in groups.items():
            try:
                result = self.run([item for c in calls for item in c.items], key)
                for call, share in zip(calls, self.split(result, [len(c.items) for c in calls])):
                    call.result = share
            except BaseException as error:  # every caller of the group hears of it, in its own thread
                for call in calls:
                    call.error = error
            for call in calls:
                call.done.set()
