"""One query path: ``QueryEncoding`` and ``SearchOptions`` (built, merged, validated once), and the 0.1 names that
keep working for one release with a DeprecationWarning."""

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from o1_retriever import QueryEncoding, SearchOptions
from o1_retriever.cli import app
from o1_retriever.retrieval.fusion import Fusion


def test_an_encoding_is_one_of_four_names_and_the_old_booleans_map_onto_them():
    assert [e.value for e in QueryEncoding] == ["plain", "think", "distilled", "gated"]
    assert QueryEncoding.of(True) is QueryEncoding.THINK and QueryEncoding.of(False) is QueryEncoding.PLAIN
    assert QueryEncoding.of("distilled") is QueryEncoding.DISTILLED == "distilled"
    with pytest.raises(ValueError, match="a query encoding is one of 'plain', 'think', 'distilled', 'gated'"):
        QueryEncoding.of("sometimes")


def test_options_are_built_from_keywords_and_merged_over_a_base():
    base = SearchOptions(mode="dense", fusion="rrf")
    assert base.fusion == Fusion.rrf()  # a preset name becomes the Fusion
    merged = SearchOptions.of(base, encoding="think", temperature=0.2, n_thoughts=None)
    assert (merged.mode, merged.encoding, dict(merged.thinking)) == ("dense", QueryEncoding.THINK, {"temperature": 0.2})
    assert SearchOptions.of(base) is base
    assert SearchOptions.of(thinking={"seed": 3}, top_p=0.5).thinking == {"seed": 3, "top_p": 0.5}
    with pytest.raises(TypeError, match=r"unknown search options \['mdoe'\]"):
        SearchOptions.of(mdoe="dense")
    with pytest.raises(ValueError, match="mode must be one of"):
        SearchOptions(mode="sparse")
    with pytest.raises(TypeError, match="where must be a dict"):
        SearchOptions(where="year=2020")


def test_validation_fills_the_models_default_and_refuses_what_a_search_would(store):
    model = store.model
    assert SearchOptions().validated(model).encoding is model.default_encoding is QueryEncoding.PLAIN
    with pytest.raises(ValueError, match="temperature set how queries are thought about"):
        SearchOptions(thinking={"temperature": 0.1}).validated(model)
    with pytest.raises(ValueError, match="needs the checkpoint's think_below"):
        SearchOptions(encoding="gated").validated(model)
    with pytest.raises(ValueError, match="needs a checkpoint with a distilled query encoder"):
        SearchOptions(encoding="distilled").validated(model)
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        SearchOptions(encoding="think", thinking={"temperature": -1}).validated(model)


def test_one_options_object_gives_the_same_hits_on_every_entry_point(store):
    from o1_retriever.integrations.langchain import O1Retriever as LangChainRetriever
    from o1_retriever.integrations.llamaindex import O1Retriever as LlamaIndexRetriever

    options = SearchOptions(encoding="think", mode="dense", thinking={"n_thoughts": 2, "max_new_tokens": 4})
    hits = store.query("cancer risk", 3, options)
    assert hits == store.query("cancer risk", 3, encoding="think", mode="dense", n_thoughts=2, max_new_tokens=4)
    assert [d.id for d in LangChainRetriever(index=store, k=3, options=options).invoke("cancer risk")] == [
        h.id for h in hits
    ]
    assert [n.node.node_id for n in LlamaIndexRetriever(store, 3, options=options).retrieve("cancer risk")] == [
        h.id for h in hits
    ]


def test_the_01_names_keep_working_with_a_deprecation_warning(store):
    from o1_retriever.integrations.langchain import O1Retriever as LangChainRetriever
    from o1_retriever.integrations.llamaindex import O1Retriever as LlamaIndexRetriever

    plain = store.query("cancer risk", 3, encoding="plain")
    with pytest.warns(DeprecationWarning, match="think= is deprecated"):
        assert store.query("cancer risk", 3, think=False) == plain
    with pytest.warns(DeprecationWarning, match="store=...\\) is deprecated"):
        retriever = LangChainRetriever(store=store, k=3)
    assert retriever.index is store and [d.id for d in retriever.invoke("cancer risk")] == [h.id for h in plain]
    with pytest.warns(DeprecationWarning):
        assert LangChainRetriever(index=store, think=True).options.encoding is QueryEncoding.THINK
    with pytest.warns(DeprecationWarning, match="store=...\\) is deprecated"):
        assert LlamaIndexRetriever(store=store).index is store
    with pytest.warns(DeprecationWarning, match="think= is deprecated"):
        vector = store.model.embed_queries(["cancer"], think=False).vectors
    assert (vector == store.model.embed_queries(["cancer"], encoding="plain").vectors).all()


def test_the_01_import_paths_resolve_to_the_moved_modules_with_a_warning():
    code = (
        "import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
        "import o1_retriever\n"
        "from o1_retriever.retrieval.chroma_index import ChromaIndex\n"
        "try:\n"
        "    from o1_retriever.store import ChromaStore\n"
        "except DeprecationWarning as warning:\n"
        "    print(warning)\n"
        "warnings.simplefilter('ignore', DeprecationWarning)\n"
        "from o1_retriever.store import ChromaStore\n"
        "from o1_retriever.thinkers.openai import OpenAIThinker\n"
        "from o1_retriever.fusion import Fusion\n"
        "from o1_retriever.index import Index\n"
        "from o1_retriever.stores import VectorStore\n"
        "import o1_retriever.model.thinkers.openai as new\n"
        "assert ChromaStore is ChromaIndex is o1_retriever.ChromaStore and OpenAIThinker is new.OpenAIThinker\n"
        "assert Fusion is o1_retriever.Fusion and Index is o1_retriever.Index\n"
        "assert VectorStore.__name__ == 'VectorStore'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "o1_retriever.store moved to o1_retriever.retrieval.chroma_index" in out.stdout


def test_the_old_search_flags_are_aliases_of_encoding(store, tmp_path):
    runner = CliRunner()
    args = ["search", "cancer risk", "--store", str(tmp_path / "index"), "--mode", "dense", "--json", "-k", "3"]
    model = ["--model", store.model.config.base]
    new = runner.invoke(app, [*args, *model, "--encoding", "plain"])
    old = runner.invoke(app, [*args, *model, "--plain"])
    assert new.exit_code == 0 and old.exit_code == 0, old.output
    assert "--plain is deprecated: use --encoding plain" in old.stderr
    assert json.loads(new.stdout) == json.loads(old.stdout)
    both = runner.invoke(app, [*args, *model, "--encoding", "think", "--plain"])
    assert both.exit_code == 2 and "choose one" in both.output
    wrong = runner.invoke(app, [*args, *model, "--encoding", "sometimes"])
    assert wrong.exit_code == 2 and "--encoding is one of plain, think, distilled, gated" in wrong.output
