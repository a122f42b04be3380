import json
import subprocess
import sys
import textwrap

import pytest

from o1_retriever import ThinkThenEmbed
from o1_retriever import ChromaIndex, EmptyIndexError, IndexMismatchError

from o1_retriever.data import Document
from o1_retriever.retrieval.fusion import Fusion, fuse
from o1_retriever.retrieval.hits import CONTENT_KEY
from o1_retriever.retrieval.index import Index
from o1_retriever.retrieval.stores import StoredHit
from tests.tiny_models import DOCS


def test_search_returns_hits_with_thoughts_and_scores(store):
    hits = store.query("cancer risk", k=4, encoding="think", n_thoughts=2, max_new_tokens=5)
    assert len(hits) == 4 and {h.id for h in hits} == {d.id for d in DOCS}
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(len(h.thoughts) == 2 for h in hits)
    dense = store.query("cancer risk", k=4, encoding="think", n_thoughts=2, max_new_tokens=5, mode="dense")
    assert [h.id for h in dense] != [] and all(-1.0 <= h.score <= 1.0 for h in dense)  # cosine similarities
    d1 = next(h for h in hits if h.id == "d1")
    assert d1.text == DOCS[0].text and d1.metadata["title"] == "Drug" and d1.metadata["year"] == 2020
    assert json.loads(d1.metadata["tags"]) == ["a", "b"]  # nested values are kept as JSON text
    assert "note" not in next(h for h in hits if h.id == "d3").metadata  # None values are dropped
    assert len(store.query("cancer risk", k=2, encoding="plain")) == 2


def test_scores_equal_cosine_of_model_vectors(store, shared_model):
    hits = store.query("gene expression", k=4, encoding="plain", mode="dense")
    q = shared_model.embed_queries(["gene expression"], encoding="plain").vectors[0]
    docs = shared_model.embed_documents([d.text for d in DOCS], titles=[d.title for d in DOCS])
    expected = {d.id: float(docs[i] @ q) for i, d in enumerate(DOCS)}
    for hit in hits:
        assert hit.score == pytest.approx(expected[hit.id], abs=1e-4)
    assert [h.id for h in hits] == sorted(expected, key=expected.get, reverse=True)


def test_upsert_is_idempotent_and_delete_works(store):
    report = store.add_documents(DOCS)
    assert (report.added, report.skipped, store.count()) == (0, 4, 4)
    report = store.add_documents(DOCS[:2], overwrite=True)
    assert (report.added, report.updated, store.count()) == (2, 2, 4)
    store.delete(["d1"])
    assert store.count() == 3
    assert "d1" not in {h.id for h in store.query("cancer", k=3, encoding="plain")}


def test_where_filter(store):
    hits = store.query("data", k=4, encoding="plain", where={"year": 2021})
    assert [h.id for h in hits] == ["d2"]


def test_other_model_is_refused(store, tiny_qwen, tmp_path):
    other = ThinkThenEmbed.from_pretrained(tiny_qwen, device="cpu", cache=False)
    with pytest.raises(IndexMismatchError, match="was built with model"):
        ChromaIndex(other, tmp_path / "index")
    assert ChromaIndex(store.model, tmp_path / "index").count() == 4  # nothing lost


def test_bad_input(shared_model, store, tmp_path):
    with pytest.raises(ValueError, match="duplicate ids"):
        store.add_documents([DOCS[0], DOCS[0]])
    with pytest.raises(ValueError, match="nothing to index"):
        store.add_documents([])
    with pytest.raises(ValueError, match="k must be >= 1"):
        store.query("q", k=0)
    with pytest.raises(ValueError, match="queries\\[0\\] is empty"):
        store.query("  ")
    with pytest.raises(EmptyIndexError, match="is empty"):
        ChromaIndex(shared_model, tmp_path / "empty").query("q")
    with pytest.raises(EmptyIndexError, match="o1-retriever index"):
        ChromaIndex(shared_model, tmp_path / "missing", create=False)
    assert store.count() == 4


def test_add_texts_uses_content_ids(shared_model, tmp_path):
    chroma = ChromaIndex(shared_model, tmp_path / "t")
    ids = chroma.add_texts(["gene cells", "light wave"], metadatas=[{"k": 1}, {"k": 2}])
    assert chroma.add_texts(["gene cells", "light wave"]) == ids and chroma.count() == 2


def test_killed_ingest_resumes_exactly_once(tiny_lm, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "text": f"cell gene {i} data"}) + "\n" for i in range(40)))
    script = textwrap.dedent(
        f"""
        import os, sys
        from o1_retriever import ThinkThenEmbed
        from o1_retriever.data import load_corpus
        from o1_retriever import ChromaIndex
        model = ThinkThenEmbed.from_pretrained({str(tiny_lm)!r}, device="cpu", cache=False)
        store = ChromaIndex(model, {str(tmp_path / "idx")!r})
        original = store.store.upsert
        calls = []
        def upsert(*args):
            calls.append(1)
            original(*args)
            if sys.argv[1] == "crash" and len(calls) == 2:
                os._exit(9)  # killed mid-ingest, after two batches were stored
        store.store.upsert = upsert
        report = store.add_documents(load_corpus({str(corpus)!r}), batch_size=8)
        print(report.added, report.skipped, store.count())
        """
    )
    crashed = subprocess.run([sys.executable, "-c", script, "crash"], capture_output=True, text=True)
    assert crashed.returncode == 9
    resumed = subprocess.run([sys.executable, "-c", script, "resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.split() == ["24", "16", "40"]


def test_a_document_edited_under_its_id_is_re_embedded_and_rows_without_a_digest_are_compared_by_text(store):
    edited = [DOCS[0]._replace(text="protein folding in yeast"), DOCS[1]._replace(metadata={"year": 1999}), *DOCS[2:]]
    report = store.add_documents(edited)
    assert (report.added, report.updated, report.skipped) == (2, 2, 2)
    hit = store.query("protein folding in yeast", k=4, encoding="plain", where={"year": 1999})
    assert [h.id for h in hit] == ["d2"] and CONTENT_KEY not in hit[0].metadata
    assert next(h for h in store.query("protein", k=4) if h.id == "d1").text == "protein folding in yeast"
    fresh = store.model.embed_documents(["protein folding in yeast"], titles=[DOCS[0].title])[0]
    stored = store.store.collection.get(ids=["d1"], include=["embeddings"])["embeddings"][0]
    assert float(fresh @ stored) == pytest.approx(1.0, abs=1e-4)  # the vector of the new text, not the old one
    # a row written before rows carried a digest: the same text and title is unchanged, another text is not
    plain = [DOCS[3]._replace(id="old")]
    store.store.upsert(["old"], store.model.embed_documents([DOCS[3].text]), [DOCS[3].text], [{"title": ""}])
    assert store.add_documents(plain).skipped == 1
    assert store.add_documents([plain[0]._replace(text="new words")]).updated == 1


def test_a_lexical_index_built_by_another_reader_between_two_writes_is_not_reused(store, tmp_path):
    """Edits keep the count: only the generation, renewed around every write, tells their index is stale."""
    from o1_retriever.retrieval.stores.chroma import ChromaVectorStore

    reader = Index(store.model, ChromaVectorStore(tmp_path / "index"))  # another process on the same folder
    write = store.store.upsert
    batches = []

    def upsert(*args):
        write(*args)
        batches.append(1)
        if len(batches) == 1:
            reader.prepare_lexical_index()  # saved beside the store, between the writer's two batches

    store.store.upsert = upsert
    edited = [d._replace(text=f"{d.text} zebra{i}") for i, d in enumerate(DOCS)]
    assert store.add_documents(edited, batch_size=2).updated == 4 and len(batches) == 2
    store.prepare_lexical_index()
    for i in range(4):
        assert [h.id for h in store.query(f"zebra{i}", k=1, mode="lexical")] == [DOCS[i].id]
        assert [h.id for h in reader.query(f"zebra{i}", k=1, mode="lexical")] == [DOCS[i].id]


def test_prune_deletes_what_the_corpus_no_longer_holds(store):
    assert store.prune([d.id for d in DOCS[:2]]) == ["d3", "d4"]
    assert store.count() == 2 and store.prune(["d1", "d2", "zz"]) == []
    assert {h.id for h in store.query("data", k=4)} == {"d1", "d2"}  # the lexical side forgot them too
    with pytest.raises(TypeError, match="collection of ids"):
        store.prune("d1")


def test_a_document_stored_whole_then_in_passages_leaves_only_its_passages(store):
    from o1_retriever.data import split_into_passages

    whole = next(d for d in DOCS if d.id == "d1")
    longer = whole._replace(text=" ".join([whole.text] * 12))
    passages = split_into_passages([longer], words=20, overlap=5)
    assert len(passages) > 1 and all(p.id.startswith("d1#") for p in passages)
    store.add_documents(passages)
    assert store.drop_stale_passages(passages) == ["d1"]  # the whole row, stored before the split
    assert store.count() == len(DOCS) - 1 + len(passages)
    assert store.drop_stale_passages(passages) == []  # other documents untouched


def test_a_delete_of_more_ids_than_one_store_call_takes_goes_in_calls_of_the_cap(store, monkeypatch):
    import o1_retriever.retrieval.stores.chroma as chroma_module

    calls = []
    collection = store.store.collection
    delete = collection.delete
    monkeypatch.setattr(chroma_module, "ROWS_PER_CALL", 2)
    monkeypatch.setattr(collection, "delete", lambda ids: (calls.append(list(ids)), delete(ids=ids)))
    assert store.prune(["d4"]) == ["d1", "d2", "d3"]
    assert calls == [["d1", "d2"], ["d3"]] and store.count() == 1


class DictStore:
    """A second VectorStore, in memory: exact cosine search over a dict. The Index must work with it unchanged."""

    description = "a dict"

    def __init__(self):
        self.rows, self.guard = {}, None

    def upsert(self, ids, vectors, texts, metadatas):
        self.rows.update({i: (v, t, m) for i, v, t, m in zip(ids, vectors, texts, metadatas)})

    def delete(self, ids):
        for i in ids:
            self.rows.pop(i, None)

    def nearest(self, vectors, k, where=None):
        keep = [(i, r) for i, r in self.rows.items() if all(r[2].get(f) == v for f, v in (where or {}).items())]
        return [
            sorted((StoredHit(i, float(v @ q), t, m) for i, (v, t, m) in keep), key=lambda h: -h.score)[:k]
            for q in vectors
        ]

    def count(self):
        return len(self.rows)

    def contents(self, where=None):
        keep = [(i, r) for i, r in self.rows.items() if all(r[2].get(f) == v for f, v in (where or {}).items())]
        return [i for i, _ in keep], [r[1] for _, r in keep], [r[2] for _, r in keep]

    def ids(self, where=None):
        return self.contents(where)[0]

    def fetch(self, ids):
        return {i: (self.rows[i][1], self.rows[i][2]) for i in ids if i in self.rows}

    def read_guard(self):
        return self.guard

    def write_guard(self, guard):
        self.guard = {**(self.guard or {}), **guard}


def test_any_vector_store_behind_the_index(store, shared_model, tiny_qwen):
    in_memory = Index(shared_model, DictStore())
    in_memory.add_documents(DOCS)
    for query in ("gene expression", "cancer risk"):
        chroma_hits = store.query(query, k=4, encoding="plain")
        dict_hits = in_memory.query(query, k=4, encoding="plain")
        assert [h.id for h in dict_hits] == [h.id for h in chroma_hits]
        assert [h.score for h in dict_hits] == pytest.approx([h.score for h in chroma_hits], abs=1e-4)
    assert [h.id for h in in_memory.query("data", k=4, encoding="plain", where={"year": 2021})] == ["d2"]
    other = ThinkThenEmbed.from_pretrained(tiny_qwen, device="cpu", cache=False)
    with pytest.raises(IndexMismatchError):
        Index(other, in_memory.store)


def test_a_collection_no_model_wrote_is_refused_and_empty_documents_are_skipped(shared_model, tmp_path, caplog):
    import chromadb

    client = chromadb.PersistentClient(path=str(tmp_path / "plain"))
    client.create_collection("o1-retriever").add(ids=["x"], embeddings=[[0.1] * shared_model.dimension])
    with pytest.raises(IndexMismatchError, match="1 vectors that no o1-retriever model wrote"):
        ChromaIndex(shared_model, tmp_path / "plain")
    index = ChromaIndex(shared_model, tmp_path / "fresh")
    with caplog.at_level("WARNING", logger="o1_retriever"):
        report = index.add_documents([Document("e", "  ", ""), Document("t", "", "Gene cells"), DOCS[0]])
    assert report.added == 2 and index.count() == 2
    assert any("skipped 1 empty document(s)" in r.getMessage() and ": e" in r.getMessage() for r in caplog.records)


def test_hybrid_fuses_the_ranks_of_both_sides(store):
    from o1_retriever.retrieval.lexical import BM25
    from o1_retriever.model.prompts import document_text

    dense = store.query("cancer risk of drug treatment", k=4, encoding="plain", mode="dense")
    lexical = store.query("cancer risk of drug treatment", k=4, encoding="plain", mode="lexical")
    expected = BM25([document_text(d.text, d.title) for d in DOCS], [d.id for d in DOCS]).search(
        ["cancer risk of drug treatment"], 4
    )[0]
    assert [h.id for h in lexical] == list(expected) and [h.score for h in lexical] == pytest.approx(
        list(expected.values())
    )
    hybrid = store.query("cancer risk of drug treatment", k=4, encoding="plain")  # the default mode and fusion
    expected = fuse([(h.id, h.score) for h in dense], [(h.id, h.score) for h in lexical], 4, Fusion())
    assert {h.id: h.score for h in hybrid} == pytest.approx(expected)
    for hit in hybrid:
        assert hit.dense_rank == 1 + [h.id for h in dense].index(hit.id)
    assert hybrid[0].lexical_rank == 1
    assert [h.score for h in hybrid] == sorted((h.score for h in hybrid), reverse=True)
    assert store.query("cancer risk of drug treatment", k=4, fusion="rrf") == store.query(
        "cancer risk of drug treatment", k=4, fusion=Fusion.rrf()
    )
    rrf = store.query("cancer risk of drug treatment", k=4, encoding="plain", fusion=Fusion.rrf())
    for hit in rrf:
        assert hit.score == pytest.approx(sum(1 / (60 + r) for r in (hit.dense_rank, hit.lexical_rank) if r))


def test_thinking_settings_without_thinking_are_refused(store):
    with pytest.raises(ValueError, match="n_thoughts set how queries are thought about: use encoding='think'"):
        store.query("cancer risk", n_thoughts=2)
    assert store.query("cancer risk", k=1, n_thoughts=None)[0].thoughts == []  # unset settings are fine
    with pytest.raises(TypeError, match=r"unknown search options \['lexical_thoughts'\]"):  # research-only, removed
        store.query("cancer risk", lexical_thoughts=True)


def test_hybrid_filters_both_sides_and_survives_stop_words(store):
    assert [h.id for h in store.query("data gene cancer", k=4, encoding="plain", where={"year": 2021})] == ["d2"]
    only_stop_words = store.query("the of and", k=2, encoding="plain")  # the lexical side finds nothing
    assert len(only_stop_words) == 2 and all(h.lexical_rank is None for h in only_stop_words)
    with pytest.raises(ValueError, match="mode must be one of"):
        store.query("q", mode="sparse")


def test_the_lexical_side_follows_the_store(store):
    assert all(h.id != "new" for h in store.query("dielectric microwave", k=4, encoding="plain", mode="lexical"))
    store.add_documents([Document("new", "brain storage of query thought", "")])
    assert store.query("brain thought", k=1, encoding="plain", mode="lexical")[0].id == "new"  # rebuilt after ingest
    store.delete(["new"])
    assert all(h.id != "new" for h in store.query("brain thought", k=5, encoding="plain", mode="lexical"))


def test_the_lexical_index_is_saved_beside_chroma_and_reused(store, shared_model, tmp_path, caplog, monkeypatch):
    import logging

    from o1_retriever.retrieval import lexical

    caplog.set_level(logging.INFO, logger="o1_retriever")
    first = store.query("cancer risk drug", k=2, mode="lexical")
    assert "building the lexical index of 4 documents" in caplog.text  # a store built without one: built, said
    folder = tmp_path / "index" / "o1-lexical" / "o1-retriever"
    assert (folder / "stamp.json").is_file()

    def no_rebuild(*args, **kwargs):
        raise AssertionError("rebuilt although a current index was saved")

    with monkeypatch.context() as patch:
        patch.setattr(lexical.LexicalIndex, "__init__", no_rebuild)
        reopened = ChromaIndex(shared_model, tmp_path / "index")  # another process, in effect
        assert reopened.query("cancer risk drug", k=2, mode="lexical") == first

    stamp = json.loads((folder / "stamp.json").read_text())
    (folder / "stamp.json").write_text(json.dumps({**stamp, "tokenizer": "an older tokenizer"}))
    caplog.clear()
    assert ChromaIndex(shared_model, tmp_path / "index").query("cancer risk drug", k=2, mode="lexical") == first
    assert "another tokenizer version: rebuilding" in caplog.text  # never mixed
    assert json.loads((folder / "stamp.json").read_text())["tokenizer"] == lexical.tokenizer_version()

    (folder / "ids.json").write_text("garbage")
    caplog.clear()
    assert ChromaIndex(shared_model, tmp_path / "index").query("cancer risk drug", k=2, mode="lexical") == first
    assert "unreadable" in caplog.text


def test_writers_saving_the_lexical_index_at_once_both_succeed_and_never_mix_their_files(tmp_path):
    import os
    import threading

    from o1_retriever.retrieval.lexical import PARTIAL, LexicalIndex

    folder = tmp_path / "lexical"
    small = LexicalIndex(["a", "b"], ["zebra stripes", "quantum field"], [{}, {}])
    large = LexicalIndex([f"x{i}" for i in range(500)], [f"zebra number {i}" for i in range(500)], [{}] * 500)
    start, errors = threading.Barrier(2), []

    def save(index):
        start.wait()
        for _ in range(40):
            try:
                index.save(folder, {"count": len(index.ids)})
            except OSError as error:
                errors.append(error)

    threads = [threading.Thread(target=save, args=(index,)) for index in (small, large)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []  # a shared half-written folder made most saves fail (the Index then warned each time)
    loaded = LexicalIndex.load(folder, {"count": 500}) or LexicalIndex.load(folder, {"count": 2})
    expected = large if loaded is not None and len(loaded.ids) == 500 else small
    assert loaded is not None and loaded.ids == expected.ids
    assert loaded.search(["zebra"], 3)[0].ranking == expected.search(["zebra"], 3)[0].ranking
    assert not [name for name in os.listdir(tmp_path) if PARTIAL in name]  # no half-written folder left behind


def test_a_half_written_lexical_folder_a_killed_writer_left_is_removed_after_an_hour(tmp_path):
    import os
    import time

    from o1_retriever.retrieval.lexical import PARTIAL, LexicalIndex

    abandoned, writing = tmp_path / f"lexical{PARTIAL}old", tmp_path / f"lexical{PARTIAL}now"
    for leftover in (abandoned, writing):
        (leftover / "bm25").mkdir(parents=True)
    os.utime(abandoned, (time.time() - 7200, time.time() - 7200))
    LexicalIndex(["a"], ["zebra"], [{}]).save(tmp_path / "lexical", {"count": 1})
    assert not abandoned.exists() and writing.exists()  # another writer may still be at work in the recent one


def test_a_write_by_another_index_is_seen_even_at_the_same_count(store, shared_model, tmp_path):
    assert store.query("zebra quantum", k=1, mode="lexical") == []
    writer = ChromaIndex(shared_model, tmp_path / "index")  # another process writing to the same store
    writer.add_documents([Document("d1", "zebra quantum", "")], overwrite=True)
    assert store.count() == 4
    assert [h.id for h in store.query("zebra quantum", k=1, mode="lexical")] == ["d1"]


def test_an_unsaveable_lexical_index_is_kept_in_memory(store, caplog, monkeypatch):
    from o1_retriever.retrieval import lexical

    def read_only(self, folder, stamp):
        raise PermissionError(f"read-only: {folder}")

    monkeypatch.setattr(lexical.LexicalIndex, "save", read_only)
    assert [h.id for h in store.query("dielectric microwave", k=1, mode="lexical")]
    assert "could not save the lexical index" in caplog.text and "lexical_path=" in caplog.text


def test_a_killed_ingest_rerun_leaves_each_document_once_on_both_sides(shared_model, tmp_path, monkeypatch):
    docs = [Document(f"k{i}", f"kestrel note number {i} about falcons", "") for i in range(6)]
    store = ChromaIndex(shared_model, tmp_path / "killed")
    real = shared_model.embed_documents
    calls = []

    def dies_on_second_batch(texts, **kwargs):
        calls.append(len(texts))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(texts, **kwargs)

    monkeypatch.setattr(shared_model, "embed_documents", dies_on_second_batch)
    with pytest.raises(KeyboardInterrupt):
        store.add_documents(docs, batch_size=2)
    assert store.count() == 2 and len(store.query("kestrel falcons", k=6, mode="lexical")) == 2
    monkeypatch.setattr(shared_model, "embed_documents", real)
    report = store.add_documents(docs, batch_size=2)  # rerun: resumes
    assert (report.added, report.skipped) == (4, 2)
    for mode in ("lexical", "dense", "hybrid"):
        ids = [h.id for h in store.query("kestrel falcons", k=10, mode=mode)]
        assert sorted(ids) == sorted(d.id for d in docs), mode  # each document exactly once


def test_a_store_of_stop_words_only_still_searches(shared_model, tmp_path):
    store = ChromaIndex(shared_model, tmp_path / "stop")
    store.add_texts(["the of and", "to be or not to be"], ids=["a", "b"])
    assert store.query("to be", k=2, mode="lexical") == []  # no terms at all: the lexical side finds nothing
    assert {h.id for h in store.query("to be", k=2)} == {"a", "b"}  # hybrid answers from the dense side
    reopened = ChromaIndex(shared_model, tmp_path / "stop")  # the saved (empty) index loads
    assert {h.id for h in reopened.query("to be", k=2)} == {"a", "b"}


def test_the_lexical_index_is_saved_only_where_the_store_lives(tmp_path):
    import chromadb

    from o1_retriever.retrieval.stores.chroma import ChromaVectorStore

    assert ChromaVectorStore(tmp_path / "a").lexical_folder == tmp_path / "a" / "o1-lexical" / "o1-retriever"
    given = ChromaVectorStore(client=chromadb.EphemeralClient(), collection="mem")
    assert given.lexical_folder is None  # a client given: no folder of ours to write into
    named = ChromaVectorStore(client=chromadb.EphemeralClient(), collection="mem2", lexical_path=tmp_path / "lx")
    assert named.lexical_folder == tmp_path / "lx" / "mem2"


def _with_gate(model, think_below):
    import dataclasses

    model.config = dataclasses.replace(model.config, think_below=think_below)


def test_gated_thinks_only_for_queries_whose_first_round_is_unsure(store, shared_model):
    queries = ["cancer risk of drug treatment", "gene expression data"]
    settings = {"n_thoughts": 2, "max_new_tokens": 5}
    top = [row[0].score for row in store.search(queries, k=1, encoding="plain", mode="dense")]
    assert top[0] != top[1]
    unsure, sure = (0, 1) if top[0] < top[1] else (1, 0)
    plain = store.search(queries, k=4, encoding="plain")
    thinking = store.search(queries, k=4, encoding="think", **settings)
    _with_gate(shared_model, (top[0] + top[1]) / 2)
    gated = store.search(queries, k=4, encoding="gated", **settings)
    assert gated[sure] == plain[sure] and gated[sure][0].thoughts == []
    assert [h.id for h in gated[unsure]] == [h.id for h in thinking[unsure]]
    assert [h.score for h in gated[unsure]] == pytest.approx([h.score for h in thinking[unsure]], abs=1e-5)
    assert gated[unsure][0].thoughts == thinking[unsure][0].thoughts and len(gated[unsure][0].thoughts) == 2
    _with_gate(shared_model, 1.0)  # nothing is that close: every query thinks
    assert [[h.id for h in row] for row in store.search(queries, k=4, encoding="gated", **settings)] == [
        [h.id for h in row] for row in thinking
    ]
    _with_gate(shared_model, -1.0)  # everything is: no query thinks, and no thinker runs
    shared_model.think = None  # would fail if called
    assert store.search(queries, k=4, encoding="gated", **settings) == plain


def test_gated_needs_a_gate_a_dense_side_and_a_search(store, shared_model):
    with pytest.raises(ValueError, match="needs the checkpoint's think_below"):
        store.query("cancer risk", encoding="gated")
    _with_gate(shared_model, 0.5)
    with pytest.raises(ValueError, match="reads the dense side's first round"):
        store.query("cancer risk", encoding="gated", mode="lexical")
    with pytest.raises(ValueError, match="use Index.search or a retriever"):
        shared_model.embed_queries(["cancer risk"], encoding="gated")
    with pytest.raises(ValueError, match="a query encoding is one of 'plain', 'think', 'distilled', 'gated'"):
        store.query("cancer risk", encoding="sometimes")


def test_add_texts_embeds_a_title_as_add_documents_does(split_model, tmp_path):
    """A title given to ``add_texts`` (``titles=`` or the metadata's ``title``) reaches the vector and BM25 alike, so
    the same document is the same row whichever way it came in."""
    from o1_retriever.data import Document

    documents = ChromaIndex(split_model, tmp_path / "documents")
    documents.add_documents([Document("a", "cancer risk of the drug", "Oncology", {"year": 2020})])
    by_titles = ChromaIndex(split_model, tmp_path / "titles")
    by_titles.add_texts(["cancer risk of the drug"], [{"year": 2020}], ids=["a"], titles=["Oncology"])
    by_metadata = ChromaIndex(split_model, tmp_path / "metadata")
    by_metadata.add_texts(["cancer risk of the drug"], [{"year": 2020, "title": "Oncology"}], ids=["a"])
    for index in (documents, by_titles, by_metadata):
        hit = index.query("oncology", k=1, mode="dense", encoding="plain")[0]
        assert hit.metadata == {"title": "Oncology", "year": 2020}
    indexes = (documents, by_titles, by_metadata)
    dense = [index.query("oncology", k=1, mode="dense", encoding="plain")[0].score for index in indexes]
    assert dense[0] == pytest.approx(dense[1]) == pytest.approx(dense[2])
    assert by_metadata.add_texts(["cancer risk of the drug"], [{"year": 2020}], ids=["a"], titles=["Oncology"])
    assert by_metadata.count() == 1
    with pytest.raises(ValueError, match="titles has 2 items but texts has 1"):
        by_titles.add_texts(["x"], titles=["a", "b"])
