"""The trainable model: the serving model (its thinker's LM and its embedder) wrapped with LoRA, trained special-token
rows, and the joint forward pass. Sequences, limits and pooling are the embedder's own, as in serving."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from o1_retriever.model import embedders
from o1_retriever.model.causal_lm import CausalLM
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.trainer.config import TrainConfig
from o1_retriever.trainer.losses import full_logits_nll, thought_token_nll


class SpecialTokenRows(torch.nn.Module):
    """A trainable delta added to the input embeddings of the special tokens (reference defect 6, docs/design.md), so
    they are trained without making the whole vocabulary matrix trainable or saving it."""

    def __init__(
        self, embedding: torch.nn.Embedding, token_ids: list[int], output: torch.nn.Module | None = None
    ) -> None:
        """``output``: the LM head when it shares the embedding matrix (tied weights): its special-token logits then
        see the delta too, as they will once the delta is folded into the shared matrix."""
        super().__init__()
        self.register_buffer("token_ids", torch.tensor(token_ids, dtype=torch.long), persistent=False)
        lookup = torch.full((embedding.weight.shape[0],), -1, dtype=torch.long)
        lookup[self.token_ids] = torch.arange(len(token_ids))
        self.register_buffer("lookup", lookup, persistent=False)
        self.delta = torch.nn.Parameter(torch.zeros(len(token_ids), embedding.weight.shape[1]))
        self.embedding = [embedding]  # a list: not a submodule, so its weight is not ours to save
        embedding.register_forward_hook(self._add_delta)
        if output is not None and output.weight is embedding.weight:
            output.register_forward_hook(self._add_delta_logits)

    def _add_delta(self, module, inputs, output):
        index = self.lookup[inputs[0]]  # (..., ) -1 for ordinary tokens
        hit = (index >= 0).unsqueeze(-1)
        return output + torch.where(hit, self.delta[index.clamp(min=0)].to(output.dtype), 0.0)

    def _add_delta_logits(self, module, inputs, output):
        extra = inputs[0] @ self.delta.to(inputs[0].dtype).T  # (..., n_special)
        return output.index_add(-1, self.token_ids, extra.to(output.dtype))

    @torch.no_grad()
    def fold_into_embeddings(self) -> None:
        """Write the trained rows into the embedding matrix (for saving a checkpoint) and zero the delta."""
        weight = self.embedding[0].weight
        weight[self.token_ids] += self.delta.to(weight.dtype)
        self.delta.zero_()


@dataclass
class TrainableModel:
    config: TrainConfig
    retriever: ThinkThenEmbed  # what is trained and saved: its modules are wrapped with LoRA in place
    lm: CausalLM  # the thinking LM (in shared mode also the embedder)
    special: SpecialTokenRows

    @classmethod
    def build(cls, config: TrainConfig, device: str = "cpu") -> TrainableModel:
        from peft import LoraConfig, get_peft_model

        from o1_retriever.model.loading import build

        torch.manual_seed(config.seed)
        # trained weights stay fp32, the thinker's too: int8 thinking (thinker_precision) is for serving, so the
        # model is built with an fp32 thinker and keeps the config it will serve with, which is what is saved
        fp32 = dataclasses.replace(config.model, thinker_precision="fp32")
        retriever = build(fp32, device=device, dtype=torch.float32)
        retriever.config = config.model
        lm = retriever.thinker.lm
        base = lm.model
        if config.train_thinker:
            lora = LoraConfig(
                r=config.lora_r,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=config.lora_targets,
            )
            lm.model = get_peft_model(base, lora)  # LoRA layers go into ``base`` in place: the embedder sees them
            lm.model.peft_config["default"].base_model_name_or_path = config.model.base  # a name, not a path here
            if config.gradient_checkpointing:
                lm.model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:  # the base thinker, frozen: it thinks through its chat template when the model is used
            base.requires_grad_(False)
        special = SpecialTokenRows(base.get_input_embeddings(), lm.special_ids, base.get_output_embeddings()).to(device)
        embedder = retriever.embedder
        if embedder.module is not lm.model:  # split mode: the encoder gets its own adapter
            encoder = get_peft_model(
                embedder.module,
                LoraConfig(
                    r=config.encoder_lora_r or config.lora_r,
                    lora_alpha=config.encoder_lora_alpha or config.lora_alpha,
                    lora_dropout=config.lora_dropout,
                    target_modules=config.encoder_lora_targets,
                ),
            )
            encoder.peft_config["default"].base_model_name_or_path = config.model.encoder
            embedder.module = encoder
        return cls(config, retriever, lm, special)

    def named_trainable(self) -> dict[str, torch.nn.Parameter]:
        params = {f"lm.{n}": p for n, p in self.lm.model.named_parameters() if p.requires_grad}
        if self.config.train_thinker:
            params["special.delta"] = self.special.delta
        embedder = self.retriever.embedder.module
        if embedder is not self.lm.model:
            params.update({f"encoder.{n}": p for n, p in embedder.named_parameters() if p.requires_grad})
        return params

    def train(self, mode: bool = True) -> None:
        self.lm.model.train(mode and self.config.train_thinker)
        self.retriever.embedder.module.train(mode)

    def forward(self, batch: dict, full_logits: bool = False):
        """(query vectors (B, d), passage vectors (N, d), per-token LM losses (T,)) for one micro-batch from the
        Collator. When the embedder is the thinking LM, its query pass also gives the LM loss (one forward)."""
        embedder = self.retriever.embedder
        q_hidden = embedder.hidden_states(batch["queries"])
        queries = F.normalize(embedder.pool(q_hidden, batch["queries"]).float(), dim=-1)
        passages = embedders.forward(embedder, batch["passages"])
        if "labels" in batch["queries"]:
            hidden, labels = q_hidden, batch["queries"]["labels"]
        elif "thinker" in batch:
            thinker = batch["thinker"]
            hidden, labels = self.lm.hidden_states(thinker["input_ids"], thinker["attention_mask"]), thinker["labels"]
        else:
            return queries, passages, torch.zeros(0, device=queries.device)
        token_losses = (full_logits_nll if full_logits else thought_token_nll)(hidden, labels, self.lm.lm_head)
        return queries, passages, token_losses
