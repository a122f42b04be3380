"""The trainable model: LoRA on the backbone, trained special-token rows, and the joint forward pass."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from o1_retriever.causal_lm import add_special_tokens, decoder_and_head, load_causal_lm, special_token_ids
from o1_retriever.config import ModelConfig
from o1_retriever.pooling import last_token_pool, mean_pool
from o1_retriever.trainer.config import TrainConfig
from o1_retriever.trainer.losses import full_logits_nll, thought_token_nll


class SpecialTokenRows(torch.nn.Module):
    """A trainable delta added to the input embeddings of the special tokens (DESIGN.md §3, defect 6), so they are
    trained without making the whole vocabulary matrix trainable or saving it."""

    def __init__(self, embedding: torch.nn.Embedding, token_ids: list[int]) -> None:
        super().__init__()
        self.register_buffer("token_ids", torch.tensor(token_ids, dtype=torch.long), persistent=False)
        lookup = torch.full((embedding.weight.shape[0],), -1, dtype=torch.long)
        lookup[self.token_ids] = torch.arange(len(token_ids))
        self.register_buffer("lookup", lookup, persistent=False)
        self.delta = torch.nn.Parameter(torch.zeros(len(token_ids), embedding.weight.shape[1]))
        self.embedding = [embedding]  # a list: not a submodule, so its weight is not ours to save
        embedding.register_forward_hook(self._add_delta)

    def _add_delta(self, module, inputs, output):
        index = self.lookup[inputs[0]]  # (..., ) -1 for ordinary tokens
        hit = (index >= 0).unsqueeze(-1)
        return output + torch.where(hit, self.delta[index.clamp(min=0)].to(output.dtype), 0.0)

    @torch.no_grad()
    def fold_into_embeddings(self) -> None:
        """Write the trained rows into the embedding matrix (for saving a checkpoint) and zero the delta."""
        weight = self.embedding[0].weight
        weight[self.token_ids] += self.delta.to(weight.dtype)
        self.delta.zero_()


def load_trainable_lm(config: TrainConfig, device: str):
    """The base causal LM in fp32 (trained weights stay fp32 on any device), with the special tokens."""
    from o1_retriever.weights import resolve_weights

    model, tokenizer = load_causal_lm(resolve_weights(config.base), device, dtype=torch.float32)
    add_special_tokens(model, tokenizer)  # a base without the special tokens gets them (seeded init)
    return model, tokenizer


@dataclass
class TrainableModel:
    config: TrainConfig
    lm: torch.nn.Module  # peft-wrapped causal LM
    tokenizer: object
    special: SpecialTokenRows
    encoder: torch.nn.Module | None = None  # split mode: peft-wrapped encoder
    encoder_tokenizer: object = None

    @classmethod
    def build(cls, config: TrainConfig, device: str = "cpu") -> TrainableModel:
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(config.seed)
        base, tokenizer = load_trainable_lm(config, device)
        lora = LoraConfig(
            r=config.lora_r,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=config.lora_targets,
        )
        if config.train_thinker:
            lm = get_peft_model(base, lora)
        else:  # the base thinker, frozen: kept for evaluation during training and for the checkpoint's config
            lm = base.requires_grad_(False).eval()
        if config.gradient_checkpointing and config.train_thinker:
            lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        special = SpecialTokenRows(base.get_input_embeddings(), special_token_ids(tokenizer)).to(device)
        encoder = encoder_tokenizer = None
        if config.mode == "split":
            from transformers import AutoModel, AutoTokenizer

            from o1_retriever.weights import resolve_weights

            path = resolve_weights(config.encoder)
            encoder_tokenizer = AutoTokenizer.from_pretrained(path)
            encoder = AutoModel.from_pretrained(path, use_safetensors=True).to(device)
            encoder = get_peft_model(
                encoder,
                LoraConfig(
                    r=config.encoder_lora_r or config.lora_r,
                    lora_alpha=config.encoder_lora_alpha or config.lora_alpha,
                    lora_dropout=config.lora_dropout,
                    target_modules=config.encoder_lora_targets,
                ),
            )
        for model, name in ((lm, config.base), (encoder, config.encoder)):
            if model is not None and hasattr(model, "peft_config"):  # a name, not this machine's path
                model.peft_config["default"].base_model_name_or_path = name
        return cls(config, lm, tokenizer, special, encoder, encoder_tokenizer)

    def named_trainable(self) -> dict[str, torch.nn.Parameter]:
        params = {f"lm.{n}": p for n, p in self.lm.named_parameters() if p.requires_grad}
        params["special.delta"] = self.special.delta
        if self.encoder is not None:
            params.update({f"encoder.{n}": p for n, p in self.encoder.named_parameters() if p.requires_grad})
        return params

    def train(self, mode: bool = True) -> None:
        self.lm.train(mode and self.config.train_thinker)
        if self.encoder is not None:
            self.encoder.train(mode)

    def to_device(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        device = self.special.delta.device
        return {k: v.to(device) for k, v in batch.items()}

    def forward(self, batch: dict[str, torch.Tensor], full_logits: bool = False):
        """(query vectors (B, d), passage vectors (N, d), per-token LM losses (T,)) for one micro-batch already on the
        model's device (``to_device``: the collator builds batches on the CPU)."""
        decoder, lm_head = decoder_and_head(self.lm)
        if self.config.train_thinker:
            hidden = decoder(input_ids=batch["thinker_ids"], attention_mask=batch["thinker_mask"]).last_hidden_state
            token_losses = (full_logits_nll if full_logits else thought_token_nll)(hidden, batch["labels"], lm_head)
        else:
            token_losses = torch.zeros(0, device=batch["positive"].device)
        if self.config.mode == "shared":
            queries = last_token_pool(hidden, batch["thinker_mask"])
            p_hidden = decoder(input_ids=batch["passage_ids"], attention_mask=batch["passage_mask"]).last_hidden_state
            passages = last_token_pool(p_hidden, batch["passage_mask"])
        else:
            encode = lambda ids, mask: mean_pool(  # noqa: E731
                self.encoder(input_ids=ids, attention_mask=mask).last_hidden_state, mask
            )
            queries = encode(batch["query_ids"], batch["query_mask"])
            passages = encode(batch["passage_ids"], batch["passage_mask"])
        return F.normalize(queries.float(), dim=-1), F.normalize(passages.float(), dim=-1), token_losses

    def model_config(self) -> ModelConfig:
        c = self.config
        return ModelConfig(
            mode=c.mode,
            base=c.base,
            encoder=c.encoder,
            thinker_trained=c.train_thinker,
            max_query_tokens=c.max_query_tokens,
            max_document_tokens=c.max_passage_tokens,
            max_thought_sequence_tokens=c.max_thought_sequence_tokens,
        )
