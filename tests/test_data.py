import gzip

import pytest

from o1_retriever.data import DataError, Document, load_corpus, load_qrels, load_queries

BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz"])
def test_a_byte_order_mark_opening_a_file_is_skipped(tmp_path, suffix):
    content = BOM + b'{"id": "a", "text": "The moon pulls the oceans."}\r\n{"id": 2, "text": "Plants make sugar."}\r\n'
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(gzip.compress(content) if suffix.endswith(".gz") else content)
    documents = load_corpus(path)
    assert [(d.id, d.text) for d in documents] == [("a", "The moon pulls the oceans."), ("2", "Plants make sugar.")]


def test_a_byte_order_mark_elsewhere_is_malformed_json_named_by_line(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_bytes(b'{"id": "a", "text": "x"}\n' + BOM + b'{"id": "b", "text": "y"}\n')
    with pytest.raises(DataError, match=r"corpus.jsonl:2: malformed JSON"):
        load_corpus(path)


def test_byte_order_marks_in_text_files_queries_and_qrels_are_skipped(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "tides.txt").write_bytes(BOM + "Tides follow the moon.".encode())
    assert load_corpus(tmp_path / "notes")[0].text == "Tides follow the moon."
    (tmp_path / "queries.jsonl").write_bytes(BOM + b'{"_id": "q1", "text": "why tides?"}\n')
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_bytes(BOM + b"q1\ttides.txt\t1\n")
    assert load_queries(tmp_path) == {"q1": "why tides?"}
    assert load_qrels(tmp_path) == {"q1": {"tides.txt": 1}}


def test_long_documents_become_overlapping_passages_and_short_ones_keep_their_id():
    from o1_retriever.data import split_into_passages, word_windows

    words = [f"w{i}" for i in range(25)]
    windows = word_windows(" ".join(words), words=10, overlap=3)
    assert [w.split()[0] for w in windows] == ["w0", "w7", "w14", "w21"] and windows[-1].split()[-1] == "w24"
    assert all(len(w.split()) == 10 for w in windows[:-1])
    long = Document("d", " ".join(words), "T", {"year": 2020})
    passages = split_into_passages([long, Document("s", "short one")], words=10, overlap=3)
    assert [p.id for p in passages] == ["d#0", "d#1", "d#2", "d#3", "s"]
    assert passages[1].title == "T" and passages[1].metadata == {"year": 2020, "document_id": "d", "passage": 1}
    assert passages[-1].text == "short one" and passages[-1].metadata == {"document_id": "s", "passage": 0}
    assert word_windows("a\n\nb  c\td e", words=3, overlap=1) == ["a\n\nb  c", "c\td e"]  # slices of the text
    with pytest.raises(ValueError, match="overlap < words"):
        word_windows("a b c", words=3, overlap=3)
