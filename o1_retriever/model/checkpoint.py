"""Checkpoint files: config, trained special-token rows, a peft adapter, a model card; and model fingerprints.

A checkpoint folder holds:
- ``o1_config.json``: the ModelConfig (mode, base weights reference, encoder, lengths, thinking settings);
- ``special_tokens.safetensors``: the embedding rows of ``<query> </query> <thought> <emb>``;
- ``adapter/``: a peft LoRA adapter for the causal LM, when one was trained;
- ``encoder_adapter/``: split mode, a peft LoRA adapter for the encoder, when one was trained;
- ``query_adapter/``: split mode, a peft LoRA adapter on top of the (adapted) encoder that embeds queries alone as
  if they had been thought about (``encoding="distilled"``; ``o1-retriever distill`` trains it); documents never see it;
- ``adapters.json``: optional, adapters this checkpoint shares with another, as ``{"encoder_adapter":
  "../default/encoder_adapter"}`` (paths relative to the checkpoint), so shipped checkpoints store each adapter once;
  a checkpoint saved from one holds its own copies;
- ``README.md``: a model card.
The base weights are referenced, not copied, so a checkpoint is adapter-sized.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors.torch import load_file, save_file

from o1_retriever.model import prompts
from o1_retriever.model.special_tokens import special_token_ids
from o1_retriever.model.config import ModelConfig

if TYPE_CHECKING:
    from o1_retriever.model.think_then_embed import ThinkThenEmbed

CONFIG_FILE = "o1_config.json"
SPECIAL_TOKENS_FILE = "special_tokens.safetensors"
ADAPTER_DIR = "adapter"
ENCODER_ADAPTER_DIR = "encoder_adapter"
QUERY_ADAPTER_DIR = "query_adapter"
ADAPTER_DIRS = (ADAPTER_DIR, ENCODER_ADAPTER_DIR, QUERY_ADAPTER_DIR)
SHARED_ADAPTERS_FILE = "adapters.json"
FORMAT_VERSION = 2  # 2: one length per sequence kind (format 1 had encoder_max_tokens)


def is_checkpoint(path: str | Path) -> bool:
    return (Path(path) / CONFIG_FILE).is_file()


def adapter_dirs(folder: Path) -> dict[str, Path]:
    """The trained adapters of a checkpoint, by name: its own folders, and the ones ``adapters.json`` references."""
    found = {name: folder / name for name in ADAPTER_DIRS if (folder / name).is_dir()}
    shared = folder / SHARED_ADAPTERS_FILE
    if shared.is_file():
        for name, relative in json.loads(shared.read_text()).items():
            path = (folder / relative).resolve()
            if name not in ADAPTER_DIRS or not path.is_dir():
                raise ValueError(
                    f"{shared} names {relative!r} for {name!r}: the names are {', '.join(ADAPTER_DIRS)}, each a "
                    "folder relative to the checkpoint"
                )
            found.setdefault(name, path)
    return found


def read_config(folder: str | Path) -> ModelConfig:
    data = json.loads((Path(folder) / CONFIG_FILE).read_text())
    version = data.pop("format_version", FORMAT_VERSION)
    if version > FORMAT_VERSION:
        raise ValueError(f"{folder} was written by a newer o1-retriever (format {version}); upgrade the package")
    return ModelConfig.from_dict(data)


def write_config(folder: Path, config: ModelConfig) -> None:
    payload = {"format_version": FORMAT_VERSION, **config.to_dict()}
    (folder / CONFIG_FILE).write_text(json.dumps(payload, indent=2) + "\n")


def save_special_token_rows(folder: Path, model, tokenizer) -> None:
    ids = torch.tensor(special_token_ids(tokenizer))
    tensors = {"input_embeddings": model.get_input_embeddings().weight.detach()[ids].float().cpu().contiguous()}
    output = model.get_output_embeddings()
    if output is not None and not hasattr(output, "weight"):  # an int8 head (the thinker has thought in int8)
        if not getattr(model.config, "tie_word_embeddings", False):
            raise ValueError("the thinker's head is in int8: load the model with precision='fp32' to save it")
    elif output is not None and output.weight is not model.get_input_embeddings().weight:
        tensors["output_embeddings"] = output.weight.detach()[ids].float().cpu().contiguous()
    save_file(tensors, str(folder / SPECIAL_TOKENS_FILE), metadata={"tokens": json.dumps(prompts.SPECIAL_TOKENS)})


@torch.no_grad()
def load_special_token_rows(folder: Path, model, tokenizer) -> None:
    path = folder / SPECIAL_TOKENS_FILE
    if not path.exists():
        return
    rows = load_file(str(path))
    ids = torch.tensor(special_token_ids(tokenizer))
    embeddings = model.get_input_embeddings().weight
    embeddings[ids] = rows["input_embeddings"].to(embeddings)
    if "output_embeddings" in rows:
        output = model.get_output_embeddings().weight
        output[ids] = rows["output_embeddings"].to(output)


def weights_fingerprint(module: torch.nn.Module, samples_per_tensor: int = 4096) -> str:
    """A stable hash of a module's weights: names, shapes and an evenly strided sample of each tensor.

    Cheap enough to compute at every load; any trained change to a tensor changes the sample with high probability.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        stride = max(1, flat.numel() // samples_per_tensor)
        sample = flat[::stride].float().cpu().contiguous().numpy()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(sample.tobytes())
    return digest.hexdigest()


def _reading(config: ModelConfig) -> str:
    reader = "the encoder" if config.mode == "split" else "the LM"
    return (
        f"{reader} reads up to {config.max_document_tokens} tokens of a document and "
        f"{config.max_thought_sequence_tokens} of a query + thought, in training and in serving"
    )


def model_card(config: ModelConfig, extra: str = "") -> str:
    return f"""---
library_name: o1-retriever
tags: [retrieval, embeddings, o1-embedder]
---
# o1-retriever checkpoint

A retriever that thinks before it embeds (O1 Embedder, Yan, Liu, Lian, 2025).

- mode: `{config.mode}`
- base (thinking LM{", embedder" if config.mode == "shared" else ""}): `{config.base}`
- encoder: `{config.encoder or "-"}`
- thoughts per query: {config.thinking.n_thoughts}, temperature {config.thinking.temperature},
  top_p {config.thinking.top_p}, at most {config.thinking.max_new_tokens} new tokens, seed {config.thinking.seed}
- query vector included in the mean: {config.include_query_vector}
- {_gate(config)}
- {_reading(config)}

Load it with `ThinkThenEmbed.from_pretrained("<this folder>")`.
{extra}
"""


def _gate(config: ModelConfig) -> str:
    if config.think_below is None:
        return 'thinking gate: none (`encoding="gated"` needs `think_below` in o1_config.json)'
    return f'thinking gate (encoding "gated"): a query thinks when its plain best cosine is below {config.think_below}'


def save_checkpoint(model: ThinkThenEmbed, folder: Path) -> Path:
    """Write ``model`` as a checkpoint folder: config, special-token rows, trained adapters (the LoRA being trained,
    or copies of the adapters it was loaded with) and a model card. Base weights are referenced, not copied."""
    folder.mkdir(parents=True, exist_ok=True)
    write_config(folder, model.config)
    lm = getattr(model.thinker, "loaded_lm", None) or getattr(model.embedder, "lm", None)
    if lm is not None:
        save_special_token_rows(folder, lm.model, lm.tokenizer)
        if hasattr(lm.model, "peft_config"):  # the special-token rows are saved on their own
            lm.model.save_pretrained(str(folder / ADAPTER_DIR), save_embedding_layers=False)
    if lm is None or model.embedder.module is not lm.model:
        if hasattr(model.embedder.module, "peft_config"):
            model.embedder.module.save_pretrained(str(folder / ENCODER_ADAPTER_DIR), save_embedding_layers=False)
    for name, source in model.adapter_sources.items():  # loaded adapters are merged: copy their files
        if not (folder / name).exists():
            shutil.copytree(source, folder / name)
    (folder / "README.md").write_text(model_card(model.config))
    return folder
