"""The method's special tokens in a causal LM's vocabulary: added once, their new rows drawn reproducibly."""

from __future__ import annotations

import torch

from o1_retriever.model import prompts


def add_special_tokens(model, tokenizer) -> bool:
    """Add the method's special tokens (and a pad token) where missing; returns whether the vocabulary grew."""
    missing = [
        t for t in prompts.SPECIAL_TOKENS if tokenizer.convert_tokens_to_ids(t) in (None, tokenizer.unk_token_id)
    ]
    added = tokenizer.add_special_tokens({"additional_special_tokens": missing}) if missing else 0
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    old_rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > old_rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        _seeded_init(model, old_rows)
    return bool(added)


@torch.no_grad()
def _seeded_init(model, first_new_row: int) -> None:
    """New embedding rows drawn around the old rows' mean with a fixed seed, so an untrained load is reproducible."""
    generator = torch.Generator().manual_seed(0)
    matrices = [model.get_input_embeddings().weight]
    output = model.get_output_embeddings()
    if output is not None and output.weight is not matrices[0]:
        matrices.append(output.weight)
    for weight in matrices:
        old = weight[:first_new_row].float()
        noise = torch.randn(weight.shape[0] - first_new_row, weight.shape[1], generator=generator)
        weight[first_new_row:] = (old.mean(0) + noise * old.std(0)).to(weight)


def special_token_ids(tokenizer) -> list[int]:
    """Ids of ``<query> </query> <thought> <emb>``, in that order."""
    return tokenizer.convert_tokens_to_ids(list(prompts.SPECIAL_TOKENS))
