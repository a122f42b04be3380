import gzip

import pytest

from o1_retriever.data import DataError, load_corpus, load_qrels, load_queries

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
