"""A causal LM that thinks and embeds: ``<emb>`` last-token pooling, and generation fused with embedding.

Fused embedding (reference defect 4, docs/design.md): when a sampled thought ends, ``<eos>`` and then ``<emb>``
are fed on top of the generation's own KV cache, and the ``<emb>`` hidden state is the vector. Nothing is decoded,
re-tokenised or re-encoded.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import numpy as np
import torch

from o1_retriever.model import prompts
from o1_retriever.model.kv_cache import ReservedCache, padded_width
from o1_retriever.model.special_tokens import special_token_ids
from o1_retriever.model.pooling import l2_normalize
from o1_retriever.model.sampling import SentenceMarks, repeated_ngram_tokens, select_next_tokens
from o1_retriever.validation import warn_truncated

#: the label of a token that is not trained
IGNORE = -100


@dataclass
class Generated:
    """Sampled token ids per row (without ``<eos>``) and, when embedding, the unit ``<emb>`` vector per row."""

    token_ids: list[list[int]]
    vectors: np.ndarray | None


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def load_causal_lm(path: str, device: str, *, dtype: torch.dtype | None = None, trust_remote_code: bool = False):
    """A causal LM and its (left-padding) tokenizer from a local folder or hub id, safetensors only. ``dtype``
    defaults to bf16 on GPUs (never fp16 on a bf16-trained model) and fp32 on CPUs."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from o1_retriever.model.weights import WHERE_WEIGHTS_COME_FROM, MissingWeightsError

    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    try:
        architectures = AutoConfig.from_pretrained(path, trust_remote_code=trust_remote_code).architectures or []
    except OSError as error:
        raise MissingWeightsError(
            f"could not load a model from {path!r}: {error}\n{WHERE_WEIGHTS_COME_FROM}"
        ) from error
    if architectures and not any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        raise ValueError(
            f"{path!r} is a {architectures[0]}, not a causal LM: it cannot think. Pass an encoder as the encoder of a "
            "split-mode model (encoder=..., --encoder)"
        )
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code
        )
    except OSError as error:
        raise MissingWeightsError(
            f"could not load causal LM weights from {path!r}: {error}\n{WHERE_WEIGHTS_COME_FROM}"
        ) from error
    tokenizer.padding_side = "left"
    return model.to(device), tokenizer


def decoder_and_head(model):
    """The transformer body (returns last hidden states) and the LM head of a (possibly peft-wrapped) causal LM."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), base.get_output_embeddings()


class CausalLM:
    """A transformers causal LM and its tokenizer: the one place that tokenizes, pads (left), runs and samples it.

    Thinkers and the shared-mode embedder build their sequences here, in training and in serving alike.
    """

    def __init__(self, model, tokenizer) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.decoder, self.lm_head = decoder_and_head(model)
        # transformers renamed ``past_key_values`` to ``cache``; use whichever this version takes
        self._cache_kwarg = (
            "cache" if "cache" in inspect.signature(self.decoder.forward).parameters else "past_key_values"
        )
        self.special_ids = special_token_ids(tokenizer)
        self.emb_id = self.special_ids[-1]
        self.eos_id = tokenizer.eos_token_id
        self.pad_id = tokenizer.pad_token_id

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @functools.cached_property
    def sentence_marks(self) -> SentenceMarks:
        """Which of the vocabulary's tokens end and open sentences (decoded once, when first asked)."""
        return SentenceMarks.of(self.tokenizer.batch_decode([[i] for i in range(len(self.tokenizer))]))

    @property
    def dimension(self) -> int:
        return self.model.get_input_embeddings().weight.shape[1]

    def tokenize(self, text: str, max_tokens: int) -> list[int]:
        """Token ids of plain text (no special tokens added), cut to ``max_tokens`` (warned once)."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) > max_tokens:
            warn_truncated("texts", max_tokens)
        return ids[: max(0, max_tokens)]

    # ------------------------------------------------------------------ sequences
    def thinking_prompt(self, query: str, max_query_tokens: int) -> list[int]:
        """``<query>{q}</query><thought>`` with the query cut at ``max_query_tokens``."""
        return prompts.thinking_prompt_ids(self.tokenize(query, max_query_tokens), self.special_ids)

    def chat_prompt(self, messages: list[dict[str, str]]) -> list[int]:
        """Messages through the tokenizer's chat template, ready for the assistant's answer."""
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)

    def thought_sequence(
        self, query: str, thought: str | None, max_query_tokens: int, max_tokens: int, *, with_emb: bool
    ) -> tuple[list[int], list[int]]:
        """``<query>q</query><thought>t<eos>`` (+ ``<emb>``) cut to ``max_tokens``, and its labels: the ids of
        ``t<eos>``, IGNORE elsewhere. Without a thought: ``<query>q</query><thought>`` (+ ``<emb>``), no labels."""
        prefix = self.thinking_prompt(query, max_query_tokens)
        tail = [self.emb_id] if with_emb else []
        if thought is None:
            return prefix + tail, [IGNORE] * (len(prefix) + len(tail))
        body = self.tokenize(thought, self.thought_budget(len(prefix), max_tokens, with_emb)) + [self.eos_id]
        return prefix + body + tail, [IGNORE] * len(prefix) + body + [IGNORE] * len(tail)

    @staticmethod
    def thought_budget(prompt_length: int, max_tokens: int, with_emb: bool) -> int:
        """Thought tokens that fit a sequence of ``max_tokens`` after the prompt, before ``<eos>`` (and ``<emb>``)."""
        return max(0, max_tokens - prompt_length - 1 - int(with_emb))

    def document_sequence(self, text: str, max_tokens: int) -> list[int]:
        """A document as the shared-mode embedder reads it: ``text<emb>`` in ``max_tokens``."""
        return self.tokenize(text, max_tokens - 1) + [self.emb_id]

    # ------------------------------------------------------------------ running
    def pad(
        self, sequences: list[list[int]], value: int | None = None, multiple: int = 1
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Left-padded ids (with ``value``, default the pad id) and attention mask, on the model's device; the width
        is the longest sequence's length rounded up to ``multiple``."""
        value = self.pad_id if value is None else value
        width = padded_width(max(len(s) for s in sequences), multiple)
        ids = torch.full((len(sequences), width), value, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, width - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[row, width - len(seq) :] = 1
        return ids.to(self.device), mask.to(self.device)

    def hidden_states(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Last-layer hidden states (batch, seq, dim) of left-padded ids; positions count real tokens only."""
        return self._forward(ids, mask, (mask.cumsum(-1) - 1).clamp(min=0)).last_hidden_state

    def _forward(self, ids, mask, positions, cache=None):
        return self.decoder(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=cache is not None,
            **{self._cache_kwarg: cache},
        )

    @torch.inference_mode()
    def generate(
        self,
        prompts_ids: list[list[int]],
        seeds: list[int],
        *,
        max_new_tokens: int | list[int],
        temperature: float,
        top_p: float,
        embed: bool,
        samples_per_prompt: int = 1,
        no_repeat_ngram: int = 0,
        stop_at_sentence_end: bool = False,
        pad_multiple: int = 1,
    ) -> Generated:
        """Sample ``samples_per_prompt`` continuations per prompt (rows grouped by prompt, each row with its own
        seeded generator), stopping at ``<eos>`` or ``max_new_tokens`` (one limit, or one per prompt). Each prompt is
        read once; its KV cache is repeated for its samples. With ``embed``, ``<eos><emb>`` is then fed on the KV
        cache and the ``<emb>`` hidden state is returned as that row's unit vector. ``no_repeat_ngram`` n > 0: a
        row never samples a token that would repeat an n-gram of its own thought. ``stop_at_sentence_end``: a
        thought ends with its first sentence (``SentenceMarks``), as if ``<eos>`` came there. Prompts are
        left-padded to the longest one's length rounded up to ``pad_multiple``: prompts that round to the same width
        are padded alike whatever else the call holds."""
        batch = len(prompts_ids) * samples_per_prompt
        if len(seeds) != batch:
            raise ValueError(f"{len(seeds)} seeds for {batch} rows")
        limits = [max_new_tokens] * len(prompts_ids) if isinstance(max_new_tokens, int) else list(max_new_tokens)
        row_limit = [limits[row // samples_per_prompt] for row in range(batch)]
        generators = [torch.Generator().manual_seed(s) for s in seeds]
        ids, mask = self.pad(prompts_ids, multiple=pad_multiple)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = ReservedCache()
        hidden = self._forward(ids, mask, positions, cache).last_hidden_state[:, -1]
        if samples_per_prompt > 1:
            cache.batch_repeat_interleave(samples_per_prompt)
            hidden, mask, positions = (
                t.repeat_interleave(samples_per_prompt, dim=0) for t in (hidden, mask, positions)
            )
        next_positions = positions[:, -1] + 1

        thoughts: list[list[int]] = [[] for _ in range(batch)]
        vectors = torch.zeros(batch, hidden.shape[-1], dtype=torch.float32)
        SAMPLING, EMBEDDING, FINISHED = 0, 1, 2  # EMBEDDING: <eos> was fed, <emb> is fed next
        phase = [SAMPLING] * batch
        active = list(range(batch))  # the rows still in the batch (cache, mask, positions), in this order

        def pick(logits: torch.Tensor, rows: list[int]) -> torch.Tensor:
            for i, row in enumerate(rows):
                banned = repeated_ngram_tokens(thoughts[row], no_repeat_ngram)
                if banned:
                    logits[i, banned] = float("-inf")
            return select_next_tokens(logits, temperature, top_p, [generators[row] for row in rows])

        sampled = pick(self.lm_head(hidden).float().cpu(), list(range(batch)))
        while True:
            feed, keep, reads_emb = [], [], []  # a row not fed this step is finished and leaves the batch
            for i, row in enumerate(active):
                token = None
                if phase[row] == SAMPLING:
                    token = int(sampled[i]) if len(thoughts[row]) < row_limit[row] else self.eos_id
                    if stop_at_sentence_end and self.sentence_marks.stops_before(thoughts[row], token):
                        token = self.eos_id
                    if token != self.eos_id:
                        thoughts[row].append(token)
                    elif embed:
                        phase[row] = EMBEDDING
                    else:
                        phase[row], token = FINISHED, None
                elif phase[row] == EMBEDDING:
                    token, phase[row] = self.emb_id, FINISHED
                if token is not None:
                    feed.append(token)
                    keep.append(i)
                    reads_emb.append(phase[row] == FINISHED)  # <emb> fed: this step's hidden state is the vector
            if not keep:
                break
            if len(keep) < len(active):  # finished rows stop costing compute
                index = torch.tensor(keep, dtype=torch.long, device=self.device)
                cache.batch_select_indices(index)
                mask, next_positions = mask[index], next_positions[index]
                active = [active[i] for i in keep]
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
            feed_ids = torch.tensor(feed, dtype=torch.long, device=self.device)[:, None]
            hidden = self._forward(feed_ids, mask, next_positions[:, None], cache).last_hidden_state[:, -1]
            next_positions = next_positions + 1
            for i, row in enumerate(active):
                if reads_emb[i]:
                    vectors[row] = hidden[i].float().cpu()
            sampling = [i for i, row in enumerate(active) if phase[row] == SAMPLING]
            sampled = torch.full((len(active),), self.pad_id, dtype=torch.long)
            if sampling:
                logits = self.lm_head(hidden[sampling]).float().cpu()
                sampled[sampling] = pick(logits, [active[i] for i in sampling])
        return Generated(thoughts, l2_normalize(vectors.numpy()) if embed else None)

    def decode(self, token_ids: list[int]) -> str:
        return self.tokenizer.decode(token_ids, skip_special_tokens=True).strip()
