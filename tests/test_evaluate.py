import dataclasses
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from o1_retriever.cli import app
from o1_retriever.data import DataError, load_qrels
from o1_retriever.evaluation.benchmark import load_benchmark

WORDS = "cell gene cancer drug light wave energy data memory storage blood brain".split()


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "mini"
    (folder / "qrels").mkdir(parents=True)
    docs = [
        {"_id": f"d{i}", "title": WORDS[i % 12], "text": f"{WORDS[i % 12]} {WORDS[(i * 5) % 12]} study"}
        for i in range(24)
    ]
    queries = [{"_id": f"q{i}", "text": f"{WORDS[i]} {WORDS[(i * 5) % 12]}"} for i in range(6)]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    rows = ["query-id\tcorpus-id\tscore"] + [f"q{i}\td{i}\t2\nq{i}\td{i + 12}\t1" for i in range(6)]
    rows += ["q99\td1\t1", "q0\tmissing-doc\t1"]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return folder


def test_qrels_keep_every_graded_judgement(beir):
    qrels = load_qrels(beir, "test")
    assert qrels["q0"] == {"d0": 2, "d12": 1, "missing-doc": 1}


def test_benchmark_drops_unknowns_with_counts(beir):
    bench = load_benchmark(beir)
    assert set(bench.qrels) == {f"q{i}" for i in range(6)} and bench.qrels["q0"] == {"d0": 2, "d12": 1}
    assert "1 unknown queries and 1 unknown documents" in bench.notes[0]
    small = load_benchmark(beir, max_queries=2, max_docs=3)
    assert len(small.qrels) == 2 and {"d0", "d12", "d1", "d13", "d2"} == {d.id for d in small.corpus}


def test_bad_folders(tmp_path, beir):
    with pytest.raises(DataError, match="missing corpus.jsonl"):
        load_benchmark(tmp_path)
    with pytest.raises(DataError, match="splits here"):
        load_benchmark(beir, split="dev")
    (beir / "qrels" / "empty.tsv").write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(DataError, match="empty"):
        load_benchmark(beir, split="empty")


@pytest.fixture
def research_systems():
    """The research systems of bench/systems.py registered for one test (``register`` them with other settings)."""
    from bench.systems import register_research_systems
    from o1_retriever.evaluation.systems import SYSTEMS

    product = dict(SYSTEMS)
    register_research_systems()
    yield register_research_systems
    SYSTEMS.clear()
    SYSTEMS.update(product)


def test_the_product_cli_knows_the_product_systems_only(beir, tiny_lm, tmp_path):
    result = CliRunner().invoke(app, ["evaluate", "--data", str(beir), "--model", tiny_lm, "--systems", "dense,hyde"])
    assert result.exit_code == 2 and "unknown systems ['hyde']" in result.output


def test_evaluate_command_writes_reports(beir, tiny_lm, tiny_encoder, tmp_path, research_systems):
    research_systems(hyde_generator=tiny_lm, hyde_encoder=tiny_encoder)
    out = tmp_path / "out"
    args = [
        "evaluate",
        "--data",
        beir,
        "--model",
        tiny_lm,
        "--out",
        out,
        "--n-thoughts",
        2,
        "--max-new-tokens",
        4,
        "--no-repeat-ngram",
        2,
    ]
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "results.json").read_text())
    assert list(summary["systems"]) == [
        "bm25",
        "dense",
        "o1",
        "hybrid",
        "dense-hybrid",
        "store-dense",
        "store-hybrid",
        "store-dense-hybrid",
        "hyde",
        "hybrid-rrf",
        "dense-hybrid-rrf",
        "bm25-thoughts",
        "o1-hybrid",
    ]
    ndcg = {name: entry["metrics"]["nDCG@10"] for name, entry in summary["systems"].items()}
    # the product path (Chroma + Index.search) ranks this small corpus as the exact harness does
    assert ndcg["store-dense"] == pytest.approx(ndcg["o1"]) and ndcg["store-hybrid"] == pytest.approx(ndcg["hybrid"])
    assert ndcg["store-dense-hybrid"] == pytest.approx(ndcg["dense-hybrid"])
    fusion = summary["systems"]["o1-hybrid"]["settings"]["fusion"]
    assert fusion == "z-score fusion, dense weight 0.6, gate 0.1 at 20 of o1 and bm25-thoughts"
    assert summary["systems"]["hybrid-rrf"]["settings"]["fusion"].startswith("RRF k=60, dense weight 0.5, no gate")
    bm25 = summary["systems"]["bm25"]["metrics"]
    assert 0 < bm25["nDCG@10"] <= 1 and bm25["Recall@1000"] == 1.0  # every doc is within the top 1000
    assert summary["systems"]["o1"]["settings"]["n_thoughts"] == 2
    assert summary["systems"]["o1"]["settings"]["no_repeat_ngram"] == 2
    assert set(summary["systems"]["o1"]["p_value_ndcg10"]) == {"bm25", "dense"}
    assert len(summary["per_query"]["o1"]["nDCG@10"]) == 6
    lines = (out / "runs" / "dense.trec").read_text().splitlines()
    assert lines[0].split()[1] == "Q0" and lines[0].split()[3] == "1" and len(lines) == 6 * 24
    assert "| hybrid |" in (out / "results.md").read_text()
    # corpus vectors are cached: a second run does not re-embed
    from o1_retriever import ThinkThenEmbed
    from o1_retriever.evaluation.benchmark import corpus_vectors

    model = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    model.embed_documents = None  # would fail if called
    vectors, _ = corpus_vectors(model, load_benchmark(beir).corpus)
    assert vectors.shape == (24, model.dimension)
    refused = CliRunner().invoke(app, ["evaluate", "--data", str(beir), "--model", str(tiny_lm), "--fusion", "equal"])
    assert refused.exit_code == 2 and "unknown fusion 'equal'; choose from guarded, unguarded, rrf" in refused.output


def test_corpus_vectors_embedded_chunk_by_chunk_equal_one_pass(beir, tiny_lm):
    """Resuming itself is ``tests/test_vector_cache.py``'s; here the chunks are the model's documents, in order."""
    from o1_retriever import ThinkThenEmbed
    from o1_retriever.evaluation.benchmark import corpus_vectors
    from o1_retriever.model.weights import home_dir

    corpus = load_benchmark(beir).corpus  # 24 documents: chunks of 10, 10 and 4
    model = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    expected, _ = corpus_vectors(model, corpus, cache=False)
    vectors, seconds = corpus_vectors(model, corpus, chunk_size=10)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert seconds > 0 and not list((home_dir() / "corpus-vectors").glob("*-items*"))  # parts joined, then removed


def test_unknown_system_is_refused(beir, tiny_lm):
    result = CliRunner().invoke(
        app, ["evaluate", "--data", str(beir), "--model", str(tiny_lm), "--systems", "bm25,foo"]
    )
    assert result.exit_code == 2 and "unknown systems ['foo']" in result.output


def test_positives_by_relevance_level(beir, tmp_path):
    from o1_retriever.trainer.records import beir_records, restrict_positives

    every = beir_records(beir, "test", negatives=3)
    direct = beir_records(beir, "test", negatives=3, min_relevance=2)
    assert [len(r.pos) for r in every] == [2] * 6 and [len(r.pos) for r in direct] == [1] * 6
    assert all(r.pos[0] not in r.neg for r in direct)
    restricted, dropped = restrict_positives(every, beir, "test", min_relevance=2)
    assert dropped == 0 and [r.pos for r in restricted] == [r.pos for r in direct]
    assert restrict_positives(every, beir, "test", min_relevance=3) == ([], 6)
    with pytest.raises(DataError, match="not judged"):
        restrict_positives([dataclasses.replace(every[0], query_id="nope")], beir, "test")

    (beir / "qrels" / "train.tsv").write_text((beir / "qrels" / "test.tsv").read_text())
    source = tmp_path / "synth.jsonl"
    source.write_text("".join(json.dumps({**r.to_dict(), "thoughts": ["cell", "wave"]}) + "\n" for r in every))
    out = tmp_path / "voted.jsonl"
    result = CliRunner().invoke(
        app, ["vote", str(source), "--out", str(out), "--member", "bm25", "--judged", str(beir), "--min-relevance", "2"]
    )
    assert result.exit_code == 0, result.output
    voted = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["pos"] for r in voted] == [r.pos for r in direct] and all("thought" in r for r in voted)


def test_records_command_writes_thought_free_records_for_the_rest(beir, tmp_path):
    voted = tmp_path / "voted.jsonl"
    q0 = json.loads((beir / "queries.jsonl").read_text().splitlines()[0])["text"]
    voted.write_text(json.dumps({"query": q0, "pos": ["p"], "thought": "t"}) + "\n")
    out = tmp_path / "free.jsonl"
    args = ["records", str(beir), "--split", "test", "--out", str(out), "--negatives", "2", "--min-relevance", "2"]
    result = CliRunner().invoke(app, [*args, "--exclude", str(voted)])
    assert result.exit_code == 0, result.output
    made = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["query_id"] for r in made] == ["q1", "q2", "q3", "q4", "q5"]
    assert all(len(r["pos"]) == 1 and len(r["neg"]) <= 2 and "thought" not in r for r in made)
    assert any(r["neg"] for r in made)
    missing = CliRunner().invoke(app, ["records", str(tmp_path / "nowhere"), "--out", str(out)])
    assert missing.exit_code != 0 and "nowhere" in missing.output


def test_split_baseline_from_the_command_line_and_compare(beir, tiny_lm, tiny_encoder, tmp_path):
    from bench.compare import compare

    def evaluate(out, *extra):
        args = ["evaluate", "--data", beir, "--model", tiny_lm, "--out", out, "--systems", "bm25,dense", *extra]
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return json.loads((out / "results.json").read_text())

    shared = evaluate(tmp_path / "shared")
    split = evaluate(tmp_path / "split", "--encoder", tiny_encoder)
    assert shared["systems"]["dense"]["settings"]["mode"] == "shared"
    assert split["systems"]["dense"]["settings"]["mode"] == "split"
    rows = compare(load_benchmark(beir).qrels, tmp_path / "shared", tmp_path / "split")
    assert set(rows) == {"bm25", "dense"} and rows["bm25"]["difference"] == 0 and rows["bm25"]["p"] == 1.0
    dense = split["systems"]["dense"]["metrics"]["nDCG@10"] - shared["systems"]["dense"]["metrics"]["nDCG@10"]
    assert abs(rows["dense"]["difference"] - dense) < 1e-9
    crossed = compare(load_benchmark(beir).qrels, tmp_path / "shared", tmp_path / "split", [("bm25", "dense")])
    assert set(crossed) == {"bm25:dense"}
    assert crossed["bm25:dense"]["a"] == rows["bm25"]["a"] and crossed["bm25:dense"]["b"] == rows["dense"]["b"]
    with pytest.raises(ValueError, match="no system 'hybrid'"):
        compare(load_benchmark(beir).qrels, tmp_path / "shared", tmp_path / "split", [("bm25", "hybrid")])


def test_thoughts_on_the_lexical_side_are_the_o1_thoughts(beir, tiny_lm, research_systems):
    from bench.systems import expanded_query
    from o1_retriever import ThinkThenEmbed
    from o1_retriever.evaluation.benchmark import load_benchmark
    from o1_retriever.evaluation.systems import fused_run, run_systems
    from o1_retriever.retrieval.lexical import BM25
    from o1_retriever.retrieval.fusion import Fusion

    bench = load_benchmark(beir)
    model = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    thinking = {"n_thoughts": 2, "max_new_tokens": 4, "temperature": 0.0}
    results = run_systems(bench, model, ("o1", "bm25-thoughts", "o1-hybrid"), thinking, cache_corpus=False)
    thoughts = model.think(list(bench.queries.values()), n=2, max_new_tokens=4, temperature=0.0)
    corpus = [d.text if not d.title else f"{d.title} {d.text}" for d in bench.corpus]
    expected = BM25(corpus, [d.id for d in bench.corpus]).search(
        [expanded_query(q, t) for q, t in zip(bench.queries.values(), thoughts)], 1000
    )
    assert results["bm25-thoughts"].run == dict(zip(bench.queries, expected))
    fused = fused_run(results["o1"].run, results["bm25-thoughts"].run, len(bench.corpus), Fusion())
    assert results["o1-hybrid"].run == fused
    assert expanded_query("q", ["a", " "], repeats=2) == "q q a"
    research_systems(lexical_repeats=1)
    once = run_systems(bench, model, ("bm25-thoughts",), thinking, cache_corpus=False)
    expected = BM25(corpus, [d.id for d in bench.corpus]).search(
        [expanded_query(q, t, 1) for q, t in zip(bench.queries.values(), thoughts)], 1000
    )
    assert once["bm25-thoughts"].run == dict(zip(bench.queries, expected))
    assert once["bm25-thoughts"].settings["lexical"] == "query x1 + thoughts"


def test_the_hybrid_systems_fuse_by_the_runs_fusion_and_the_rrf_ones_by_rrf(beir, tiny_lm, research_systems):
    from o1_retriever import ThinkThenEmbed
    from o1_retriever.evaluation.systems import fused_run, run_systems
    from o1_retriever.retrieval.fusion import Fusion
    from o1_retriever.retrieval.index import Index
    from o1_retriever.retrieval.stores.chroma import ChromaVectorStore

    bench = load_benchmark(beir)
    model = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    systems = ("dense", "bm25", "dense-hybrid", "dense-hybrid-rrf", "store-dense-hybrid")
    results = run_systems(bench, model, systems, {}, cache_corpus=False, fusion="unguarded")
    dense, lexical, n_docs = results["dense"].run, results["bm25"].run, len(bench.corpus)
    assert results["dense-hybrid"].run == fused_run(dense, lexical, n_docs, Fusion.named("unguarded"))
    assert results["dense-hybrid"].run != fused_run(dense, lexical, n_docs, Fusion())  # the guarded default
    assert results["dense-hybrid-rrf"].run == fused_run(dense, lexical, n_docs, Fusion.rrf())
    assert results["store-dense-hybrid"].settings["fusion"] == str(Fusion.named("unguarded"))
    index = Index(model, ChromaVectorStore(str(beir / "store")))
    index.add_documents(bench.corpus)
    hits = index.search(list(bench.queries.values()), 24, encoding="plain", fusion="unguarded")
    expected = {q: [h.id for h in row] for q, row in zip(bench.queries, hits)}
    found = results["store-dense-hybrid"].run
    assert {q: list(found[q]) for q in found} == expected
    with pytest.raises(ValueError, match="unknown fusion"):
        run_systems(bench, model, ("dense",), {}, cache_corpus=False, fusion="equal")


def test_gated_takes_o1_where_the_plain_query_is_unsure(beir, tiny_lm):
    from o1_retriever import ThinkThenEmbed
    from o1_retriever.evaluation.benchmark import load_benchmark
    from o1_retriever.evaluation.systems import default_systems, run_systems

    bench = load_benchmark(beir)
    model = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    assert "gated" not in default_systems(model)
    with pytest.raises(ValueError, match="need a checkpoint with a thinking gate"):
        run_systems(bench, model, ("gated",), {}, cache_corpus=False)
    thinking = {"n_thoughts": 2, "max_new_tokens": 4, "temperature": 0.0}
    plain = run_systems(bench, model, ("dense",), thinking, cache_corpus=False)["dense"].run
    tops = sorted(max(docs.values()) for docs in plain.values())
    model.config = dataclasses.replace(model.config, think_below=tops[len(tops) // 2])
    assert {"gated", "gated-hybrid", "store-gated-hybrid"} <= set(default_systems(model))
    results = run_systems(bench, model, ("dense", "o1", "gated"), thinking, cache_corpus=False)
    for query, docs in results["gated"].run.items():
        unsure = max(results["dense"].run[query].values()) < model.config.think_below
        assert docs == (results["o1"].run if unsure else results["dense"].run)[query]
    assert results["gated"].settings["share_thinking"] == pytest.approx(len(tops) // 2 / len(tops))


def test_grounded_thinking_reads_the_first_rounds_best_passages_in_order(beir, tmp_path):
    """``bench.grounded``: a query's prompt holds its n best first-round passages (best first, cut to ``words``);
    a query the first round did not rank, and few-shot synthesis, keep the plain prompt."""
    from bench.grounded import grounded_messages, top_passages
    from o1_retriever.model import prompts

    run = tmp_path / "first.trec"
    run.write_text("q0 Q0 d5 1 0.2 x\nq0 Q0 d3 2 0.9 x\nq0 Q0 d7 3 0.5 x\n")
    passages = top_passages(str(beir), run, n=2, words=2)
    query = json.loads((beir / "queries.jsonl").read_text().splitlines()[0])["text"]
    docs = {d["_id"]: d for d in map(json.loads, (beir / "corpus.jsonl").read_text().splitlines())}
    assert passages == {query: [" ".join(f"{docs[d]['title']} {docs[d]['text']}".split()[:2]) for d in ("d3", "d7")]}
    messages = grounded_messages(passages)
    content = messages(query)[0]["content"]
    assert content.index(f"[1] {passages[query][0]}") < content.index(f"[2] {passages[query][1]}")
    assert content.endswith(f"Query: {query}") and prompts.CHAT_THINKING_INSTRUCTION in content
    assert messages("another query") == prompts.thinking_messages("another query")
    examples = (("q", "p"),)
    assert messages(query, examples) == prompts.thinking_messages(query, examples)


def test_rocchio_feedback_moves_a_query_towards_its_top_documents_only():
    from bench.rocchio import feedback_vectors

    queries = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
    documents = np.array([[0.0, 1.0], [0.6, 0.8], [1.0, 0.0]], dtype=np.float32)
    moved = feedback_vectors(queries, documents, [[0, 1], []], beta=1.0)
    expected = queries[0] + documents[[0, 1]].mean(axis=0)
    assert np.allclose(moved[0], expected / np.linalg.norm(expected)) and np.allclose(moved[1], queries[1])
    assert np.allclose(feedback_vectors(queries, documents, [[0], [2]], beta=0.0), queries)


def test_maxp_scores_a_document_by_its_best_window():
    from bench.long_documents import max_run

    windows = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], dtype=np.float32)
    run = max_run(["q"], np.array([[0.0, 1.0]], dtype=np.float32), ["a", "b"], windows, np.array([0, 0, 1]))
    assert run["q"] == {"a": 1.0, "b": pytest.approx(0.8)}


def test_a_distilled_query_mixed_with_its_plain_vector_and_rows_against_baselines():
    from bench.compare import against_baselines
    from bench.query_mix import mixed

    plain, distilled = np.array([[1.0, 0.0]]), np.array([[0.0, 1.0]])
    assert np.allclose(mixed(plain, distilled, 0.0), plain) and np.allclose(mixed(plain, distilled, 1.0), distilled)
    assert np.allclose(mixed(plain, distilled, 0.5), [[2**-0.5, 2**-0.5]])
    scores = {"base": {"q1": 0.5, "q2": 0.5}, "better": {"q1": 1.0, "q2": 0.7}}
    rows = against_baselines(scores, lambda name: "base")
    assert rows["base"]["difference"] == 0 and rows["base"]["p"] == 1.0
    assert rows["better"]["vs"] == "base" and rows["better"]["difference"] == pytest.approx(0.35)
