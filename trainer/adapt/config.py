"""The settings of one ``adapt`` run: a dataclass, written into the run folder so that a rerun resumes only the same
run."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from o1_retriever.model.prompts import QUESTION_PROMPTS

#: below this many usable passages the corpus is refused: too few questions survive the filter to train on
MIN_PASSAGES = 50
#: below this many, adapt runs but warns that the label-free check has little to go on
FEW_PASSAGES = 400


@dataclass(frozen=True)
class AdaptConfig:
    corpus: str  # what ``index`` reads: a BEIR folder, a JSONL file, a folder of .txt/.md files
    out: str  # the adapted checkpoint (the run's work in ``out/adapt-run/``)
    model: str = "default"  # the split-mode checkpoint adapted
    queries: int = 500  # the budget: passages sampled, one question asked of each
    minutes: float | None = None  # a time budget for the writing stages (questions, thoughts); None: no limit
    seed: int = 0
    passage_words: int | None = None  # long documents: passages of this many words, as ``index --passage-words``
    passage_overlap: int = 30

    # the writer: any thinker backend the project supports writes the questions (and the thoughts)
    writer: str = "local"  # "local" or "openai"
    writer_model: str = "smollm2-135m-instruct"
    writer_precision: str | None = "int8"  # the local writer's weights (int8: several times faster on a CPU)
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: int = 8
    timeout: float = 60.0
    examples: tuple[str, ...] = ()  # a few real, unjudged questions of the corpus's users: they set the style
    question_prompt: str = (
        "auto"  # one of prompts.QUESTION_PROMPTS, or "auto": the one that yields more questions on the first passages
    )
    question_tokens: int = 40
    question_temperature: float = 0.3

    # filter: keep a question only if the base hybrid ranks its passage in its top ``filter_depth``
    filter_depth: int = 10
    # negatives: from the base hybrid's ranking below the source passage, at most ``negatives`` per question, never
    # within ``negative_margin`` of the source's cosine (a near tie is more likely an unjudged positive)
    negatives: int = 7
    negative_depth: int = 50
    negative_margin: float = 0.05

    # thoughts: the writer thinks ``thoughts_per_query`` candidates per kept question and the committee votes
    thoughts: bool = True
    thoughts_per_query: int = 3
    thought_tokens: int = 48
    committee: tuple[str, ...] = ("all-minilm-l6-v2", "bm25")

    # the label-free check: this share of the kept questions is held out (never trained on) and scores base vs adapted
    held_out_share: float = 0.2
    min_held_out: int = 40
    # a fusion replaces the checkpoint's only if it beats it on the held-out slice by at least this (nDCG@10) with
    # p < 0.05 (paired)
    calibration_margin: float = 0.01
    distill: dict[str, Any] = field(default_factory=dict)  # DistillConfig overrides (max_epochs, learning_rate, ...)

    def __post_init__(self) -> None:
        if self.queries < 1:
            raise ValueError(f"queries must be at least 1, got {self.queries}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")
        if not 0 < self.held_out_share < 1:
            raise ValueError(f"held_out_share must be in (0, 1), got {self.held_out_share}")
        if self.filter_depth < 1 or self.negative_depth <= self.filter_depth and self.negatives:
            raise ValueError("filter_depth must be >= 1 and negative_depth deeper than it")
        if self.question_prompt not in ("auto", *QUESTION_PROMPTS):
            raise ValueError(
                f"question_prompt must be 'auto' or one of {QUESTION_PROMPTS}, got {self.question_prompt!r}"
            )
        if self.writer not in ("local", "openai"):
            raise ValueError(f"writer must be 'local' or 'openai', got {self.writer!r}")
        object.__setattr__(self, "examples", tuple(self.examples))
        object.__setattr__(self, "committee", tuple(self.committee))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def run_identity(self) -> dict[str, Any]:
        """What the questions and pairs of a run depend on (a rerun must match it): not the budgets (a larger
        ``queries`` or ``minutes`` extends the run: a budget's sample is a prefix of a larger one's), not where it is
        written, not the later stages' settings (their files are keyed by them: ``thoughts_key``)."""
        later = (
            "queries",
            "minutes",
            "out",
            *THOUGHT_FIELDS,
            "held_out_share",
            "min_held_out",
            "calibration_margin",
            "distill",
        )
        return {k: v for k, v in self.to_dict().items() if k not in later}

    def thoughts_key(self) -> str:
        """A short digest of what the thoughts and the vote depend on: their files' names carry it."""
        settings = {k: getattr(self, k) for k in (*THOUGHT_FIELDS, "seed", "writer", "writer_model", "base_url")}
        return hashlib.sha256(json.dumps(settings, sort_keys=True, default=list).encode()).hexdigest()[:10]


#: the settings of the thoughts stage
THOUGHT_FIELDS = ("thoughts", "thoughts_per_query", "thought_tokens", "committee")
