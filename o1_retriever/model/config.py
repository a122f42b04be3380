"""Configuration records. Plain dataclasses, serialised as JSON next to the weights.

``ModelConfig`` is the one description of a model: training builds the model from it and writes it, unchanged,
into the checkpoint that serving loads, so the length limits a model was trained with are the ones it serves with.
"""

from __future__ import annotations

import dataclasses

from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, TypedDict

ModelMode = Literal["shared", "split"]  # one LM thinks and embeds, or a thinker and a separate encoder
Precision = Literal["fp32", "int8"]
PRECISIONS = ("fp32", "int8")
LENGTH_FIELDS = ("max_query_tokens", "max_document_tokens", "max_thought_sequence_tokens")


@dataclass(frozen=True)
class ThinkingConfig:
    """How thoughts are sampled (the paper's reference settings: docs/design.md, "The method")."""

    n_thoughts: int = 3
    max_new_tokens: int = 128
    temperature: float = 0.1
    top_p: float = 0.9
    seed: int = 0
    no_repeat_ngram: int = 0  # n > 0: a thought never repeats an n-gram of its own tokens (the local thinker); 0: off
    stop_at_sentence_end: bool = False  # a thought ends with its first sentence (the local thinker)

    def __post_init__(self) -> None:
        if self.n_thoughts < 1:
            raise ValueError(f"n_thoughts must be >= 1, got {self.n_thoughts}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0 (0 means greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.no_repeat_ngram < 0 or self.no_repeat_ngram == 1:
            raise ValueError(f"no_repeat_ngram must be 0 (off) or at least 2, got {self.no_repeat_ngram}")

    def sampling(self) -> dict[str, Any]:
        """The settings a sampler reads at each step (``CausalLM.generate``'s keyword arguments)."""
        names = ("temperature", "top_p", "no_repeat_ngram", "stop_at_sentence_end")
        return {name: getattr(self, name) for name in names}

    def cache_settings(self) -> dict:
        """The settings that key cached thoughts: settings added later count only when switched on, so thoughts
        cached before they existed stay valid."""
        settings = dataclasses.asdict(self)
        for later in ("no_repeat_ngram", "stop_at_sentence_end"):
            if not settings[later]:
                del settings[later]
        return settings


#: the names of the thinking settings, in ``ThinkingConfig``'s order
THINKING_SETTINGS = tuple(f.name for f in fields(ThinkingConfig))


class ThinkingOptions(TypedDict, total=False):
    """Per-call overrides of a checkpoint's ``ThinkingConfig`` (the thoughts' count is each call's own argument);
    None keeps the checkpoint's setting."""

    max_new_tokens: int | None
    temperature: float | None
    top_p: float | None
    seed: int | None
    no_repeat_ngram: int | None
    stop_at_sentence_end: bool | None


def think_arguments(settings: dict) -> dict:
    """``ThinkingConfig``-named settings as the arguments of ``ThinkThenEmbed.think`` (which calls ``n_thoughts``
    ``n``, the count being each call's own)."""
    return {("n" if name == "n_thoughts" else name): value for name, value in settings.items()}


@dataclass(frozen=True)
class ModelConfig:
    """What a checkpoint is: its mode, the weights it builds on, how it reads text and how it thinks.

    Length limits are per sequence kind and hold for training and serving alike, in the tokens of whoever reads the
    sequence (the LM in shared mode, the encoder in split mode; a trained split thinker reads query + thought too).
    """

    mode: ModelMode = "shared"
    #: the thinking causal LM (shared mode: also the embedder); a built-in name, a local path or a hub id
    base: str = "smollm2-135m-instruct"
    #: split mode only: the separate mean-pooled encoder
    encoder: str | None = None
    #: whether the thinker was trained with the special-token prompt (else it thinks through its chat template);
    #: default: True in shared mode (one LM thinks and embeds), False in split mode
    thinker_trained: bool | None = None
    #: include the thought-free query vector in the mean of the thought vectors
    include_query_vector: bool = True
    #: LM tokens a query keeps in the special-token thinking prompt ``<query>q</query><thought>``
    max_query_tokens: int = 32
    #: tokens a document keeps (shared mode: with ``<emb>``)
    max_document_tokens: int = 192
    #: tokens of a query + thought sequence (shared: ``<query>q</query><thought>t<eos><emb>``; split: ``q t``)
    max_thought_sequence_tokens: int = 256
    thinking: ThinkingConfig = field(default_factory=ThinkingConfig)
    #: the local thinker's weights at query time on a CPU: "fp32", or "int8" (its linear layers smoothed and in int8,
    #: ``o1_retriever.model.quantization``: several times faster; split mode only, where the thinker does not embed)
    thinker_precision: Precision = "fp32"
    #: encoding ``gated``: a query thinks only when its plain vector's best cosine in the store is below this (the
    #: first round is unsure); the others cost what ``plain`` costs. Chosen on dev (``bench/gate.py``) for the encoder
    #: and thinker of the checkpoint; None: the checkpoint has no gate
    think_below: float | None = None
    #: how a hybrid search over this checkpoint's index fuses its two sides unless told (the fields of
    #: ``o1_retriever.retrieval.fusion.Fusion``); ``adapt`` calibrates it on the corpus it adapted to. None: the
    #: ``guarded`` preset
    fusion: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("shared", "split"):
            raise ValueError(f"mode must be 'shared' or 'split', got {self.mode!r}")
        if self.thinker_precision not in PRECISIONS:
            raise ValueError(f"thinker_precision must be one of {PRECISIONS}, got {self.thinker_precision!r}")
        if self.thinker_precision != "fp32" and self.mode == "shared":
            raise ValueError("thinker_precision int8 needs split mode: in shared mode the thinking LM also embeds")
        if self.mode == "split" and not self.encoder:
            raise ValueError("split mode needs an encoder (e.g. encoder='all-minilm-l6-v2')")
        if self.thinker_trained is None:
            object.__setattr__(self, "thinker_trained", self.mode == "shared")
        elif self.mode == "shared" and not self.thinker_trained:
            raise ValueError("thinker_trained=False needs split mode: in shared mode one LM thinks and embeds")
        if self.think_below is not None and not -1.0 <= self.think_below <= 1.0:
            raise ValueError(f"think_below is a cosine similarity in [-1, 1], got {self.think_below}")
        for name in LENGTH_FIELDS:
            if getattr(self, name) < 2:
                raise ValueError(f"{name} must be >= 2, got {getattr(self, name)}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        data = dict(data)
        legacy = data.pop("encoder_max_tokens", None)  # format 1: split mode served every sequence at this length
        if legacy is not None and data.get("mode") == "split":
            data["max_document_tokens"] = data["max_thought_sequence_tokens"] = legacy
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        if isinstance(data.get("thinking"), dict):
            data["thinking"] = ThinkingConfig(**data["thinking"])
        return cls(**data)
