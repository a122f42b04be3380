"""Tiny voted training data for trainer tests."""

from __future__ import annotations

import json
from pathlib import Path

from tests.tiny_models import WORDS


def voted_records(n: int = 16) -> list[dict]:
    """Voted records as they are written to JSONL (plain dicts); ``as_records`` types them."""
    rows = []
    for i in range(n):
        a, b, c = WORDS[i % 40], WORDS[(i * 7) % 40], WORDS[(i * 11) % 40]
        rows.append(
            {
                "query": f"{a} {b}",
                "pos": [f"{a} {b} {c} study", f"{b} {a} results"],
                "neg": [f"{WORDS[(i + 3) % 40]} {WORDS[(i + 5) % 40]} data", f"{c} energy field"],
                "thoughts": [f"{a} {c} evidence", "no"],
                "thought": f"{a} {c} evidence" if i % 5 else "",
            }
        )
    return rows


def write_records(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
