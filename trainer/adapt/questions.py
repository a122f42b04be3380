"""Stage b: the writer asks one question of each sampled passage. Resumable: finished batches are appended and
fsynced in passage order; a rerun continues after them. A writer that fails a whole batch stops the stage with a
``WriterError`` naming it; what was written is kept."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from o1_retriever.data import DataError
from o1_retriever.model import prompts
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.model.thinkers import Thinker, ThinkRequest
from o1_retriever.trainer.records import append_jsonl, read_finished

BATCH = 16  # passages per writer call and per durable append
MIN_QUESTION_WORDS = 3
MAX_QUESTION_WORDS = 40
#: answers that are not a question about the passage (an echo of the instruction, a question about "the text", a
#: refusal): what a small writer says when it loses the instruction
GENERIC = re.compile(
    r"answer to (the|this) question|^what is the (question|answer|text)\b|the text( above)?\b|would you like to"
    r"|^what an? [\w\s,-]{0,40}?[!.]|^(question|query)\s*:?\s*$|as an ai|i cannot|i can't",
    re.I,
)
#: how a question without a question mark may begin
INTERROGATIVE = re.compile(
    r"^(what|how|why|which|who|whom|whose|when|where|does|do|did|is|are|was|were|can|could|"
    r"should|would|will|has|have|had)\b",
    re.I,
)


class WriterError(RuntimeError):
    """The writer failed every request of a batch (after its own retries); the message names it."""


def clean_question(text: str) -> tuple[str | None, str | None]:
    """(question, None) or (None, why it was dropped): the first line, a leading "Question:" and quotes removed, cut
    after its first question mark; dropped when generic, not a question (no question mark and no interrogative first
    word), shorter than ``MIN_QUESTION_WORDS`` or longer than ``MAX_QUESTION_WORDS`` words."""
    line = next((part.strip() for part in text.strip().splitlines() if part.strip()), "")
    line = re.sub(r"^(question|query|q)\s*\d*\s*[:.-]\s*", "", line, flags=re.I).strip().strip("\"'“”").strip()
    if "?" in line:  # the question: the sentence that ends at the first question mark
        line = re.split(r"(?<=[.!])\s+", line[: line.index("?") + 1])[-1]
    if not line or GENERIC.search(line):
        return None, "generic"
    if not line.endswith("?") and not INTERROGATIVE.match(line):
        return None, "not a question"
    words = len(line.split())
    if words < MIN_QUESTION_WORDS:
        return None, "too short"
    if words > MAX_QUESTION_WORDS:
        return None, "too long"
    return line, None


def copies_passage(question: str, passage: str, n: int = 8) -> bool:
    """Whether the question repeats ``n`` consecutive words of its passage (a copy, not a question in other words)."""
    words = re.findall(r"\w+", question.lower())
    text = " " + " ".join(re.findall(r"\w+", passage.lower())) + " "
    return any(f" {' '.join(words[i : i + n])} " in text for i in range(len(words) - n + 1))


@dataclass(frozen=True)
class QuestionSettings:
    max_new_tokens: int = 40
    temperature: float = 0.3
    seed: int = 0
    style: tuple[str, ...] = ()  # the user's example questions
    prompt: str = "after"  # one of ``prompts.QUESTION_PROMPTS`` (``choose_prompt``)

    @classmethod
    def of_run(cls, config) -> QuestionSettings:
        """An ``AdaptConfig``'s question settings (its prompt is chosen later: ``choose_prompt``)."""
        return cls(config.question_tokens, config.question_temperature, config.seed, config.examples)

    @property
    def sampling(self) -> ThinkingConfig:
        return ThinkingConfig(1, self.max_new_tokens, self.temperature, 0.9, self.seed)

    @property
    def prompt_args(self) -> tuple[tuple[str, ...], str]:
        """``prompts.question_messages``' arguments after the passage."""
        return self.style, self.prompt


def question_of(answer, passage: str) -> tuple[str | None, str | None]:
    """(question, None) or (None, why it was dropped) for the writer's answer about ``passage``: ``clean_question``'s
    verdict, and a question that copies its passage dropped."""
    question, why = clean_question(answer.texts[0]) if answer.texts else (None, "writer failed")
    if question is not None and copies_passage(question, passage):
        return None, "copies its passage"
    return question, why


def usable_count(passages: list[dict[str, Any]], answers) -> int:
    """How many distinct questions the answers hold that ``question_of`` keeps."""
    questions = (question_of(answer, passage["text"])[0] for passage, answer in zip(passages, answers))
    return len({question.lower() for question in questions if question})


def choose_prompt(passages: list[dict[str, Any]], writer: Thinker, settings: QuestionSettings) -> dict[str, int]:
    """The usable questions each question prompt yields on ``passages`` (a few: a label-free probe); ``adapt`` keeps
    the prompt with more (``preferred_prompt``)."""
    counts = {}
    for prompt in prompts.QUESTION_PROMPTS:
        requests = [
            ThinkRequest(p["id"], messages=tuple(prompts.question_messages(p["text"], settings.style, prompt)))
            for p in passages
        ]
        counts[prompt] = usable_count(passages, writer.think(requests, settings.sampling))
    return counts


def preferred_prompt(usable: dict[str, int]) -> str:
    """The prompt that yielded the most usable questions; on a tie, the earlier in ``prompts.QUESTION_PROMPTS``."""
    return max(prompts.QUESTION_PROMPTS, key=lambda p: (usable.get(p, -1), -prompts.QUESTION_PROMPTS.index(p)))


def write_questions(
    passages: list[dict[str, Any]],
    writer: Thinker,
    out: Path,
    settings: QuestionSettings,
    *,
    deadline: float | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """One row per passage (``id``, ``question`` or ``dropped``: why), appended to ``out`` in passage order; resumes
    after the rows ``out`` holds (a file of a larger budget serves its first rows). Stops early, keeping what is
    written, once ``time.monotonic()`` passes ``deadline``."""
    finished = read_finished(out)[: len(passages)]  # a smaller budget reads the first rows of a larger one's
    for i, row in enumerate(finished):
        if row.get("id") != passages[i]["id"]:
            raise DataError(f"{out}:{i + 1} is for another passage than this run's: the run folder holds another run")
    todo = passages[len(finished) :]
    with tqdm(
        total=len(passages), initial=len(finished), desc="questions", unit="passage", disable=not progress
    ) as bar:
        for start in range(0, len(todo), BATCH):
            if deadline is not None and time.monotonic() > deadline:
                break
            batch = todo[start : start + BATCH]
            requests = [
                ThinkRequest(p["id"], messages=tuple(prompts.question_messages(p["text"], *settings.prompt_args)))
                for p in batch
            ]
            answers = writer.think(requests, settings.sampling)
            if all(not a.texts for a in answers):
                errors = [e for a in answers for e in a.errors] or ["no text"]
                raise WriterError(f"the writer {writer!r} failed: {errors[0]}")
            rows = []
            for passage, answer in zip(batch, answers):
                question, why = question_of(answer, passage["text"])
                row = {"id": passage["id"], "raw": answer.texts[0] if answer.texts else None}
                rows.append({**row, "question": question} if question else {**row, "dropped": why})
            append_jsonl(out, rows)
            finished += rows
            bar.update(len(batch))
    return finished
