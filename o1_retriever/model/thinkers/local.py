"""A local transformers causal LM as the thinker: batched, every sample seeded by (seed, query, sample)."""

from __future__ import annotations

import hashlib
import json
import threading
import warnings

from o1_retriever.model import prompts
from o1_retriever.model.causal_lm import CausalLM, default_device, load_causal_lm
from o1_retriever.model.special_tokens import add_special_tokens
from o1_retriever.model.kv_cache import padded_width
from o1_retriever.model.checkpoint import weights_fingerprint
from o1_retriever.model.config import PRECISIONS, ModelConfig, Precision, ThinkingConfig
from o1_retriever.model.quantization import CALIBRATION, int8_scheme, int8_supported, quantize_int8
from o1_retriever.model.sampling import row_seed
from o1_retriever.model.thinkers import ThinkRequest, Thoughts


class LocalThinker:
    """Thinks through the chat template (an untrained instruct LM), or through ``<query>q</query><thought>`` once
    trained (``trained``); with ``embeds`` (shared mode) it also reads each thought's ``<emb>`` vector from the
    generation's own KV cache. Sequence limits are the model's: a trained prompt is cut at ``max_query_tokens``
    and its thought fits ``max_thought_sequence_tokens``, as in training."""

    #: prompts are left-padded to a multiple of this many tokens, and only prompts of one padded width share a
    #: generation call: padding for a longer neighbour moves attention's last bits, which int8 rounding amplifies
    #: into other thoughts (bench/batch_invariance.py), so each prompt's padding must depend on itself alone
    PAD_MULTIPLE = 32

    def __init__(
        self,
        lm: CausalLM,
        *,
        name: str = "",
        trained: bool = False,
        embeds: bool = False,
        max_query_tokens: int = 32,
        max_thought_sequence_tokens: int = 256,
        batch_rows: int = 24,
        precision: Precision = "fp32",
    ) -> None:
        if embeds and not trained:
            raise ValueError("a thinker that embeds its thoughts thinks through the trained special-token prompt")
        if embeds and precision != "fp32":
            raise ValueError("a thinker that embeds its thoughts keeps fp32 weights: its vectors are the model's")
        self._lm = lm
        self.name = name
        self.trained = trained
        self.embeds = embeds
        self.max_query_tokens = max_query_tokens
        self.max_thought_sequence_tokens = max_thought_sequence_tokens
        self.batch_rows = batch_rows
        self._weights = weights_fingerprint(lm.model)  # of the weights as trained, before any quantisation
        if precision == "int8" and lm.device.type == "cpu" and not int8_supported():
            warnings.warn("int8 thinking is not available with this torch build or CPU; the thinker stays fp32")
            precision = "fp32"
        self.precision = precision
        self._int8_pending = precision == "int8" and lm.device.type == "cpu"
        self._int8_lock = threading.Lock()

    @property
    def lm(self) -> CausalLM:
        """The LM that generates; in int8, quantised on first use (a load that never thinks does not pay for it)."""
        if self._int8_pending:
            with self._int8_lock:
                if self._int8_pending:
                    self._lm = self._quantized(self._lm)
                    self._int8_pending = False
        return self._lm

    @lm.setter
    def lm(self, lm: CausalLM) -> None:
        self._lm, self._int8_pending = lm, False

    @property
    def loaded_lm(self) -> CausalLM:
        """The LM without quantising it (for saving a checkpoint): fp32 until the thinker first thinks in int8."""
        return self._lm

    def calibration(self) -> list[list[int]]:
        """Token ids int8 smoothing is calibrated on: the built-in prose turns read through this thinker's prompt."""
        lm = self._lm
        return [self.prompt(ThinkRequest(q)) + lm.tokenize(a, 256) + [lm.eos_id] for q, a in CALIBRATION]

    def _quantized(self, lm: CausalLM) -> CausalLM:
        """``lm`` in int8 (in place), calibrated on ``calibration()``."""
        return CausalLM(quantize_int8(lm.model, self.calibration()), lm.tokenizer)

    @classmethod
    def from_config(cls, lm: CausalLM, config: ModelConfig, *, embeds: bool) -> LocalThinker:
        """The thinker of a model: its prompt style and limits are the model's (as trained)."""
        return cls(
            lm,
            name=config.base,
            trained=config.thinker_trained,
            embeds=embeds,
            max_query_tokens=config.max_query_tokens,
            max_thought_sequence_tokens=config.max_thought_sequence_tokens,
            precision=config.thinker_precision,
        )

    @classmethod
    def load(cls, name_or_path: str, *, device: str | None = None, precision: Precision = "fp32") -> LocalThinker:
        """An untrained instruct LM thinking through its chat template (a built-in name, a folder or a hub id), in
        ``precision`` (int8: quantised on first use, on a CPU)."""
        from o1_retriever.model.weights import resolve_weights

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        model, tokenizer = load_causal_lm(resolve_weights(name_or_path), device or default_device())
        add_special_tokens(model, tokenizer)
        return cls(CausalLM(model, tokenizer), name=name_or_path, precision=precision)

    def __repr__(self) -> str:
        return f"LocalThinker({self.name!r}, trained={self.trained}, embeds={self.embeds})"

    @property
    def identity(self) -> str:
        payload = {
            "backend": "local",
            "prompt_version": prompts.PROMPT_VERSION,
            "thinker_trained": self.trained,
            "max_query_tokens": self.max_query_tokens,
            "precision": self.precision if self.precision == "fp32" else f"{self.precision}: {int8_scheme()}",
            "padding": f"left, to a multiple of {self.PAD_MULTIPLE} tokens",  # it moves int8 thoughts
            "weights": self._weights,
        }
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
        return f"local:{self.name}:{digest}"

    def prompt(self, request: ThinkRequest) -> list[int]:
        if not self.trained:  # prompts need the tokenizer only: they never wait for quantisation
            return self._lm.chat_prompt(request.conversation())
        if request.examples or request.messages:
            raise ValueError(
                "a trained thinker reads <query>q</query><thought> only: no few-shot examples, no other messages"
            )
        return self._lm.thinking_prompt(request.query, self.max_query_tokens)

    def _limit(self, prompt: list[int], max_new_tokens: int) -> int:
        if not self.trained:  # an untrained chat model was never trained on any length
            return max_new_tokens
        room = CausalLM.thought_budget(len(prompt), self.max_thought_sequence_tokens, with_emb=self.embeds)
        return max(1, min(max_new_tokens, room))

    def think(self, requests: list[ThinkRequest], settings: ThinkingConfig) -> list[Thoughts]:
        """Thoughts for ``requests``, in their order. Prompts are generated in groups of one padded width (see
        ``PAD_MULTIPLE``), so a query's thoughts do not depend on the queries thought with it."""
        k = settings.n_thoughts
        per_call = max(1, self.batch_rows // k)  # prompts per generation call; each prompt is read once
        prompt_ids = [self.prompt(r) for r in requests]
        by_width: dict[int, list[int]] = {}
        for i, prompt in enumerate(prompt_ids):
            by_width.setdefault(padded_width(len(prompt), self.PAD_MULTIPLE), []).append(i)
        out: list[Thoughts | None] = [None] * len(requests)
        for group in by_width.values():
            for start in range(0, len(group), per_call):
                chunk = group[start : start + per_call]
                generated = self.lm.generate(
                    [prompt_ids[i] for i in chunk],
                    [row_seed(settings.seed, requests[i].query, j) for i in chunk for j in range(k)],
                    max_new_tokens=[self._limit(prompt_ids[i], settings.max_new_tokens) for i in chunk],
                    embed=self.embeds,
                    samples_per_prompt=k,
                    pad_multiple=self.PAD_MULTIPLE,
                    **settings.sampling(),
                )
                texts = [self.lm.decode(ids) for ids in generated.token_ids]
                for n, i in enumerate(chunk):
                    rows = slice(n * k, (n + 1) * k)
                    out[i] = Thoughts(texts[rows], [], generated.vectors[rows] if self.embeds else None)
        return out
