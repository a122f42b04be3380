"""Tiny random transformers models and tokenizers built in code: no download, seconds to make."""

from __future__ import annotations

from pathlib import Path

import torch

from o1_retriever.data import Document

WORDS = (
    "the a of and to in is are was for on with by as at from that this it be or which cell cells protein gene "
    "cancer risk patients study results effect effects increase decrease high low blood brain drug treatment "
    "disease mice human dna rna expression level levels associated reduced increased physics energy field wave "
    "light measurement dielectric liquid microwave computer data system storage memory retrieval search query "
    "document answer question thought plausible response because therefore evidence shows not no yes"
).split()

#: a small corpus over WORDS, with metadata of several kinds (nested values, None)
DOCS = [
    Document("d1", "cancer risk of the drug treatment", "Drug", {"year": 2020, "tags": ["a", "b"]}),
    Document("d2", "microwave measurement of dielectric liquid", "", {"year": 2021}),
    Document("d3", "gene expression in human cells", "Genes", {"year": 2020, "note": None}),
    Document("d4", "memory storage system for computer data", "", {}),
]

CHAT_TEMPLATE = (
    "{% for m in messages %}<|user|> {{ m['content'] }} {% endfor %}{% if add_generation_prompt %}<|bot|>{% endif %}"
)


def make_tokenizer(folder: Path, *, with_pad: bool = False):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(["[UNK]", "</s>", "<|user|>", "<|bot|>", *WORDS])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", eos_token="</s>", pad_token="</s>" if with_pad else None
    )
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|user|>", "<|bot|>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(folder)
    return tokenizer


def make_causal_lm(folder: Path, arch: str = "llama", seed: int = 0) -> Path:
    """A 2-layer random Llama or Qwen2 with a word-level tokenizer, saved as a plain transformers folder."""
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    tokenizer = make_tokenizer(folder)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=arch == "llama",
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(**common)) if arch == "llama" else Qwen2ForCausalLM(Qwen2Config(**common))
    model.save_pretrained(folder)
    return folder


def make_encoder(folder: Path, seed: int = 0) -> Path:
    """A 2-layer random BERT with a WordPiece vocabulary: a stand-in for all-MiniLM-L6-v2."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"))
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=24, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48
    )
    BertModel(config).save_pretrained(folder)
    return folder
