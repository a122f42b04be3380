"""Checks on user input, so bad input fails early with the argument's name, never deep inside torch."""

from __future__ import annotations

import logging
from collections.abc import Sequence


def check_texts(texts: Sequence[str], argument: str) -> list[str]:
    """A non-empty list of non-blank strings, or a ValueError/TypeError naming ``argument``."""
    if isinstance(texts, str):
        raise TypeError(f"{argument} must be a list of strings, not a single string (wrap it: [{argument}])")
    try:
        items = list(texts)
    except TypeError:
        raise TypeError(f"{argument} must be a list of strings, got {type(texts).__name__}") from None
    if not items:
        raise ValueError(f"{argument} is empty: pass at least one text")
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"{argument}[{i}] must be a string, got {type(text).__name__}")
        if not text.strip():
            raise ValueError(f"{argument}[{i}] is empty or whitespace only")
    return items


def check_positive(value: int, argument: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an integer, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{argument} must be >= 1, got {value}")
    return value


#: the kinds of text already reported as truncated in this process (clear it to hear again)
truncation_warned: set[str] = set()


def warn_truncated(what: str, limit: int) -> None:
    """Log once per process and kind of text that some were cut at ``limit`` tokens."""
    if what not in truncation_warned:
        truncation_warned.add(what)
        logging.getLogger("o1_retriever").warning(
            "some %s are longer than %d tokens and were truncated (warned once)", what, limit
        )


#: no token of any tokenizer we use is longer than this many characters: text is cut here before tokenizing
_MAX_CHARS_PER_TOKEN = 64


def cut_to_tokens(tokenizer, text: str, max_tokens: int, what: str) -> str:
    """``text`` cut after its first ``max_tokens`` tokens (a fast tokenizer's character offsets; the text itself is
    kept, never decoded again), with a one-time warning when it was cut."""
    head = text[: max_tokens * _MAX_CHARS_PER_TOKEN]
    offsets = tokenizer(head, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if len(offsets) <= max_tokens and len(head) == len(text):
        return text
    if len(offsets) <= max_tokens:
        warn_truncated(what, max_tokens)
        return head
    warn_truncated(what, max_tokens)
    return text[: offsets[max_tokens - 1][1]]
