"""Training configurations: joint training (``TrainConfig``: the paper's reference values as defaults, loadable from
YAML/JSON and overridable key by key, ``--set model.max_document_tokens=256``) and distillation (``DistillConfig``).

``model`` is the ModelConfig of the model being trained: the trainer builds the model from it and writes it,
unchanged, as the checkpoint's ``o1_config.json`` (lengths and thinking settings included), so what serves is what
was trained.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from o1_retriever.model.config import ModelConfig


@dataclass
class TrainConfig:
    data: str = ""  # voted JSONL (query, pos, neg, thought)
    #: JSONL of (query, thoughts), as ``think --records`` writes it: each record trains with the first of its query's
    #: thoughts there instead of its voted one (the thinker's own thoughts: an encoder trained on what it serves)
    thoughts: str = ""
    #: BEIR folders whose first ``dev_queries`` queries of ``dev_split`` are left out of training: a dev split to choose
    #: settings on (``evaluate --split train --max-queries 150`` scores exactly those queries)
    hold_out: list[str] = field(default_factory=list)
    dev_split: str = "train"
    dev_queries: int = 150
    out: str = "o1-checkpoint"
    #: the model trained (mode, base, encoder, lengths, thinking settings); ``model.thinker_trained``: behaviour-clone
    #: the thinker (always in shared mode; False in split mode fine-tunes the encoder alone)
    model: ModelConfig = field(default_factory=ModelConfig)

    # losses
    lambda_contrastive: float = 0.8  # loss = λ·InfoNCE + (1−λ)·LM
    temperature: float = 0.02
    group_size: int = 16  # 1 positive + (group_size − 1) hard negatives per query
    thought_dropout: float = 0.1  # probability that a query is trained without its thought
    cross_device_negatives: bool = True
    mask_known_positives: bool = True  # a record's other positives are never its negatives (in-batch or hard)

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
        if isinstance(self.model, dict):
            self.model = ModelConfig.from_dict(self.model)
        if not 0 <= self.lambda_contrastive <= 1:
            raise ValueError("lambda_contrastive must be in [0, 1]")
        if not 0 <= self.thought_dropout <= 1:
            raise ValueError("thought_dropout must be in [0, 1]")
        if self.group_size < 1 or self.batch_size < 1 or self.gradient_accumulation < 1:
            raise ValueError("group_size, batch_size and gradient_accumulation must be >= 1")
        if self.batch_size % self.gradient_accumulation:
            raise ValueError("batch_size must be divisible by gradient_accumulation")

    @property
    def train_thinker(self) -> bool:
        return self.model.thinker_trained

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "config") -> TrainConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"{where}: unknown settings {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def from_file(cls, path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
        """Settings from a YAML or JSON file, then ``overrides`` (dotted keys: ``model.encoder``)."""
        import yaml

        if not Path(path).is_file():
            raise ValueError(f"{path}: no such file")
        text = Path(path).read_text()
        try:
            data = (yaml.safe_load(text) or {}) if str(path).endswith((".yaml", ".yml")) else json.loads(text)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark
            where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
            raise ValueError(f"{where}: malformed YAML ({error.problem})") from None
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}:{error.lineno}: malformed JSON ({error.msg})") from None
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
        return cls.from_dict(with_overrides(data, overrides or {}), str(path))


def with_overrides(data: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each dotted key of ``overrides`` set (``{"model.thinking.seed": 1}``); None values are skipped."""
    data = json.loads(json.dumps(data))  # a deep copy of plain data
    for dotted, value in overrides.items():
        if value is None:
            continue
        *parents, leaf = dotted.split(".")
        node = data
        for name in parents:
            node = node.setdefault(name, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {dotted}: {name!r} is not a section")
        node[leaf] = value
    return data


def parse_assignment(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is read as YAML (``3``, ``0.1``, ``true``, ``[a, b]``, text)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set takes key=value (e.g. model.max_document_tokens=256), got {text!r}")
    try:
        return key.strip(), yaml.safe_load(value)
    except yaml.YAMLError:
        raise ValueError(f"--set {text}: the value is not valid YAML (quote text: key='value')") from None


@dataclass
class DistillConfig:
    data: str = ""  # voted JSONL (query, pos, neg, thought)
    model: str = "default"  # the split-mode checkpoint whose query side is distilled
    out: str = "o1-distilled"
    hold_out: list[str] = field(default_factory=list)  # BEIR folders whose first dev queries are held out
    dev_split: str = "train"
    dev_queries: int = 150
    # loss = InfoNCE + w · (1 − cos(student, the o1 vector of the voted thought)), or, for a query without a thought,
    # + a · (1 − cos(student, its frozen plain vector)); the defaults are the shipped recipe's (chosen on dev)
    distill_weight: float = 10.0
    anchor_weight: float = 10.0
    temperature: float = 0.05
    lora_r: int = 16
    lora_alpha: int = 32
    lora_targets: list[str] = field(default_factory=lambda: ["query", "key", "value", "dense"])
    learning_rate: float = 2e-4
    batch_size: int = 32
    max_epochs: int = 6
    patience: int = 2  # epochs without a better dev nDCG@10 before stopping
    seed: int = 0

    def __post_init__(self) -> None:
        if self.distill_weight < 0 or self.anchor_weight < 0 or self.temperature <= 0:
            raise ValueError("distill_weight and anchor_weight must be >= 0 and temperature > 0")
        if min(self.batch_size, self.max_epochs, self.patience, self.dev_queries, self.lora_r) < 1:
            raise ValueError("batch_size, max_epochs, patience, dev_queries and lora_r must be >= 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DistillConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown distill settings {sorted(unknown)}")
        return cls(**data)
