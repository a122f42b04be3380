"""Core model measurements (issue 2): fused vs re-encode latency, cache hit vs miss, document throughput.

    python -m bench.core [--queries 8] [--docs 1000]

Timings are ratios against a baseline run in the same process; absolute figures are printed for context.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile

import numpy as np

from bench.common import DATA, matmul_gflops, timed, write
from o1_retriever import ThinkThenEmbed
from o1_retriever.model import embedders
from o1_retriever.data import load_corpus, load_queries
from o1_retriever.model.prompts import document_text
from o1_retriever.model.thinkers import ThinkRequest


def fused_vs_reencode(model: ThinkThenEmbed, queries: list[str], k: int, tokens: int) -> dict:
    lm = model.thinker.lm
    fused, reencode, cosines = [], [], []
    for i, query in enumerate(queries):
        prompt = model.thinker.prompt(ThinkRequest(query))
        seeds = list(range(i * k, (i + 1) * k))
        args = dict(max_new_tokens=tokens, temperature=0.1, top_p=0.9, samples_per_prompt=k)
        t_fused, out = timed(lm.generate, [prompt], seeds, embed=True, **args)

        def reference():  # the reference implementation's path: generate, decode, re-tokenise, re-encode
            gen = lm.generate([prompt], seeds, embed=False, **args)
            texts = [lm.tokenizer.decode(ids, skip_special_tokens=True) for ids in gen.token_ids]
            sequences = [prompt + lm.tokenize(t, tokens) + [lm.eos_id, lm.emb_id] for t in texts]
            ids, mask = lm.pad(sequences)
            return embedders.embed(model.embedder, {"input_ids": ids, "attention_mask": mask})

        t_re, vectors = timed(reference)
        fused.append(t_fused)
        reencode.append(t_re)
        cosines.extend((out.vectors * vectors).sum(-1).tolist())
    return {
        "queries": len(queries),
        "k": k,
        "max_new_tokens": tokens,
        "fused_s_per_query_median": statistics.median(fused),
        "reencode_s_per_query_median": statistics.median(reencode),
        "ratio_fused_over_reencode": sum(fused) / sum(reencode),
        "min_cosine_fused_vs_reencoded_text": min(cosines),
    }


def cache_hit_vs_miss(model: ThinkThenEmbed, queries: list[str], k: int, tokens: int) -> dict:
    misses, hits = [], []
    for query in queries:
        t_miss, first = timed(model.embed_queries, [query], n_thoughts=k, max_new_tokens=tokens)
        t_hit, second = timed(model.embed_queries, [query], n_thoughts=k, max_new_tokens=tokens)
        assert np.array_equal(first.vectors, second.vectors) and first.thoughts == second.thoughts
        misses.append(t_miss)
        hits.append(t_hit)
    return {
        "miss_s_median": statistics.median(misses),
        "hit_s_median": statistics.median(hits),
        "ratio_hit_over_miss": sum(hits) / sum(misses),
    }


def document_throughput(model: ThinkThenEmbed, docs, peak_gflops: float) -> dict:
    texts, titles = [d.text for d in docs], [d.title for d in docs]
    model.embed_documents(texts[:8], titles=titles[:8])  # warm up
    seconds, _ = timed(model.embed_documents, texts, titles=titles, batch_size=32)
    result = {"documents": len(docs), "seconds": seconds, "documents_per_s": len(docs) / seconds}
    full = [document_text(t, ti) for t, ti in zip(texts, titles)]
    if model.config.mode == "shared":
        lm = model.thinker.lm
        lengths = [len(lm.document_sequence(text, model.config.max_document_tokens)) for text in full]
        config = lm.model.config
        layers, width = config.num_hidden_layers, config.hidden_size
        params = sum(p.numel() for n, p in lm.decoder.named_parameters() if "embed_tokens" not in n)
        # 2 FLOPs per weight per token, plus attention scores and values (4 * width * length per layer per token)
        flops = sum(2 * params * n + 4 * layers * width * n * n / 2 for n in lengths)
    else:
        encoder = model.embedder
        lengths = [int(encoder.document_batch([text])["attention_mask"].sum()) for text in full]
        config = encoder.model.config
        layers, width = config.num_hidden_layers, config.hidden_size
        params = sum(p.numel() for n, p in encoder.model.named_parameters() if "embeddings" not in n)
        flops = sum(2 * params * n + 4 * layers * width * n * n for n in lengths)
    result.update(
        tokens=sum(lengths),
        tokens_per_s=sum(lengths) / seconds,
        model_gflops=flops / seconds / 1e9,
        fraction_of_matmul_peak=flops / seconds / 1e9 / peak_gflops,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--queries", type=int, default=8)
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()

    queries = list(load_queries(DATA / "scifact").values())[: args.queries]
    docs = load_corpus(DATA / "scifact")[: args.docs]
    cache = tempfile.mkdtemp()
    shared = ThinkThenEmbed.from_pretrained("smollm2-135m-instruct", device="cpu", cache=f"{cache}/shared.sqlite")
    split = ThinkThenEmbed.from_pretrained(device="cpu", cache=f"{cache}/split.sqlite")  # shipped default (split)
    peak_before = matmul_gflops()
    payload = {
        "command": f"python -m bench.core --queries {args.queries} --docs {args.docs}",
        "fused_vs_reencode_shared_smollm2": fused_vs_reencode(shared, queries, args.k, args.tokens),
        "cache_shared_smollm2": cache_hit_vs_miss(shared, queries[: max(2, args.queries // 2)], args.k, args.tokens),
        "documents_shared_smollm2": document_throughput(shared, docs, peak_before),
        "documents_split_minilm": document_throughput(split, docs, peak_before),
    }
    payload["matmul_fp32_gflops"] = {"before": peak_before, "after": matmul_gflops()}
    write("core", payload)


if __name__ == "__main__":
    main()
