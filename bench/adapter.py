"""The shipped encoder adapter, merged into the weights (how checkpoints load) vs applied as unmerged LoRA layers:
document embedding time on the same SciFact documents, in one process, and the largest difference in the vectors.

    python -m bench.adapter [--docs 300]
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.common import DATA, timed, write
from o1_retriever import ThinkThenEmbed
from o1_retriever.data import load_corpus
from o1_retriever.model.loading import DEFAULT_MODEL
from o1_retriever.model.weights import resolve_weights


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=300)
    args = parser.parse_args()
    from peft import PeftModel
    from transformers import AutoModel

    documents = load_corpus(DATA / "scifact")[: args.docs]
    texts, titles = [d.text for d in documents], [d.title for d in documents]
    model = ThinkThenEmbed.from_pretrained(cache=False)
    merged_model = model.embedder.module
    unmerged = PeftModel.from_pretrained(
        AutoModel.from_pretrained(resolve_weights(model.config.encoder), use_safetensors=True),
        str(DEFAULT_MODEL / "encoder_adapter"),
    ).eval()
    model.embed_documents(texts[:16], titles[:16])  # warm-up
    seconds, vectors = {}, {}
    for round_ in range(2):  # alternate, so drift on a shared machine hits both
        for name, encoder in (("merged", merged_model), ("unmerged", unmerged)):
            model.embedder.module = encoder
            elapsed, vectors[name] = timed(model.embed_documents, texts, titles)
            seconds[name] = min(seconds.get(name, float("inf")), elapsed)
    result = {
        "command": f"python -m bench.adapter --docs {args.docs}",
        "documents": len(texts),
        "seconds": seconds,
        "merged_over_unmerged": seconds["merged"] / seconds["unmerged"],
        "max_abs_difference": float(np.abs(vectors["merged"] - vectors["unmerged"]).max()),
    }
    print(
        f"merged {seconds['merged']:.2f} s, unmerged {seconds['unmerged']:.2f} s: ratio "
        f"{result['merged_over_unmerged']:.2f}; max |difference| {result['max_abs_difference']:.1e}"
    )
    write("adapter", result)


if __name__ == "__main__":
    main()
