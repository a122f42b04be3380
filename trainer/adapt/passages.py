"""Stage a: the passages questions are asked of — a seeded sample of the corpus without empty, too short or
near-duplicate passages. The sample of a budget is a prefix of a larger budget's, so a rerun with a larger
``--queries`` extends the run instead of starting again."""

from __future__ import annotations

import hashlib
import re

from o1_retriever.data import Document

MIN_WORDS = 12  # a shorter passage (a title, a heading, a stub) rarely answers a question of its own


def normalised(text: str) -> str:
    """Lower-case words only: what near-duplicate passages share."""
    return " ".join(re.findall(r"\w+", text.lower()))


def passage_text(document: Document) -> str:
    return f"{document.title}. {document.text}".strip() if document.title else document.text.strip()


def eligible(documents: list[Document]) -> tuple[list[Document], dict[str, int]]:
    """The documents a question can be asked of, and how many were dropped and why: empty, shorter than
    ``MIN_WORDS`` words, or a near-duplicate (the same first 60 normalised words) of an earlier one."""
    kept: list[Document] = []
    dropped = {"empty": 0, "too short": 0, "near-duplicate": 0}
    seen: set[str] = set()
    for document in documents:
        words = normalised(passage_text(document)).split()
        if not words:
            dropped["empty"] += 1
        elif len(words) < MIN_WORDS:
            dropped["too short"] += 1
        elif (key := " ".join(words[:60])) in seen:
            dropped["near-duplicate"] += 1
        else:
            seen.add(key)
            kept.append(document)
    return kept, dropped


def sample(documents: list[Document], n: int, seed: int) -> list[Document]:
    """``n`` documents in a seeded order that depends on each document's id alone (so it is stable when the corpus
    grows, and the first ``n`` of a larger sample are this sample)."""

    def key(document: Document) -> str:
        return hashlib.sha256(f"{seed}\x00{document.id}".encode()).hexdigest()

    return sorted(documents, key=key)[:n]


def english_share(documents: list[Document], limit: int = 200) -> float:
    """The share of letters that are ASCII in the first ``limit`` documents: the built-in writer is English-only."""
    text = "".join(passage_text(d) for d in documents[:limit])
    letters = [c for c in text if c.isalpha()]
    return sum(c.isascii() for c in letters) / len(letters) if letters else 1.0
