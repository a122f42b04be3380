"""Training configuration: one dataclass, reference values of DESIGN.md §2 as defaults, loadable from YAML/JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    data: str = ""  # voted JSONL (query, pos, neg, thought)
    base: str = "smollm2-135m-instruct"  # the causal LM (thinker; in shared mode also the embedder)
    out: str = "o1-checkpoint"
    mode: str = "shared"  # "shared" (the paper) or "split" (thinker + separate encoder)
    encoder: str | None = None  # split mode: the encoder to fine-tune (e.g. all-minilm-l6-v2)
    train_thinker: bool = True  # split mode: False fine-tunes the encoder alone; the base thinks via its chat template

    # losses
    lambda_contrastive: float = 0.8  # loss = λ·InfoNCE + (1−λ)·LM
    temperature: float = 0.02
    group_size: int = 16  # 1 positive + (group_size − 1) hard negatives per query
    thought_dropout: float = 0.1  # probability that a query is trained without its thought
    cross_device_negatives: bool = True
    mask_known_positives: bool = True  # a record's other positives are never its negatives (in-batch or hard)

    # lengths (tokens)
    max_query_tokens: int = 32
    max_passage_tokens: int = 192
    max_thought_sequence_tokens: int = 256

    # LoRA
    lora_r: int = 32
    lora_alpha: int = 64
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    encoder_lora_targets: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])
    encoder_lora_r: int | None = None  # split mode; default: lora_r
    encoder_lora_alpha: int | None = None  # split mode; default: lora_alpha

    # optimisation
    learning_rate: float = 1e-4
    special_token_learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64  # queries per optimizer step, over all processes
    gradient_accumulation: int = 1  # micro-batches per step (batch_size is split between them)
    epochs: float = 1.0
    max_steps: int | None = None  # overrides epochs
    warmup_ratio: float = 0.05
    gradient_checkpointing: bool = False
    max_grad_norm: float = 1.0
    seed: int = 0

    # bookkeeping
    log_every: int = 1
    save_every: int = 50
    eval_data: str | None = None  # a BEIR folder
    eval_split: str = "test"
    eval_every: int = 0  # steps; 0 = never
    eval_max_queries: int = 50

    def __post_init__(self) -> None:
        if self.mode not in ("shared", "split"):
            raise ValueError(f"mode must be 'shared' or 'split', got {self.mode!r}")
        if self.mode == "split" and not self.encoder:
            raise ValueError("split mode needs an encoder (e.g. --encoder all-minilm-l6-v2)")
        if not self.train_thinker and self.mode != "split":
            raise ValueError("train_thinker=False needs split mode: in shared mode one model thinks and embeds")
        if not 0 <= self.lambda_contrastive <= 1:
            raise ValueError("lambda_contrastive must be in [0, 1]")
        if not 0 <= self.thought_dropout <= 1:
            raise ValueError("thought_dropout must be in [0, 1]")
        if self.group_size < 1 or self.batch_size < 1 or self.gradient_accumulation < 1:
            raise ValueError("group_size, batch_size and gradient_accumulation must be >= 1")
        if self.batch_size % self.gradient_accumulation:
            raise ValueError("batch_size must be divisible by gradient_accumulation")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> TrainConfig:
        text = Path(path).read_text()
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            data = json.loads(text)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown settings {sorted(unknown)}")
        return cls(**{**data, **{k: v for k, v in overrides.items() if v is not None}})
