import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from o1_retriever.data import DataError
from tests.fakes import FakeThinker
from o1_retriever.trainer.records import as_records, read_records
from o1_retriever.trainer.synthesize import SynthesisConfig, few_shot_examples, synthesize

ROOT = Path(__file__).resolve().parents[1]


def make_records(n=10):
    return [{"query": f"query {i}", "pos": [f"passage {i}", f"shared {i % 3}"], "neg": [f"neg {i}"]} for i in range(n)]


def test_few_shot_examples_never_leak_labels():
    records = as_records(make_records(12))
    for i in range(12):
        shots = few_shot_examples(records, i, 3, seed=0)
        assert len(shots) == 3
        assert all(q != records[i].query for q, _ in shots)
        # records i and j share "shared {i % 3}": no example may come from one of them
        assert all(int(q.split()[1]) % 3 != i % 3 for q, _ in shots)
    assert few_shot_examples(records, 4, 3, seed=0) == few_shot_examples(records, 4, 3, seed=0)


def test_synthesize_writes_in_order_and_reports_failures(tmp_path):
    records = make_records(10)
    records.insert(3, {"query": "", "pos": ["x"], "error": "input:4: missing or empty 'query'"})
    expert = FakeThinker(empty_for={"query 5"})
    out = tmp_path / "out.jsonl"
    summary = synthesize(records, expert, out, SynthesisConfig(m=2, batch_size=4), progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["query"] for r in rows] == [r["query"] for r in records]
    assert rows[0]["thoughts"][0].startswith("thought 0 about query 0") and len(rows[0]["thoughts"]) == 2
    assert summary.failed == 2 and rows[3]["error"].startswith("input:4") and "empty text" in rows[6]["error"]
    # the prompt holds the instruction, three examples from other queries, then the query
    content = expert.prompts[0][0]["content"]
    assert content.startswith("Think about a plausible response")
    assert [m["role"] for m in expert.prompts[0]] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert expert.prompts[0][-1]["content"] == "query 0"
    # a rerun resumes: nothing is redone or duplicated
    again = synthesize(records, expert, out, SynthesisConfig(m=2, batch_size=4), progress=False)
    assert again.resumed == 11 and again.written == 0 and len(out.read_text().splitlines()) == 11
    # --retry-failed redoes only the failed records, in place
    expert.empty_for.clear()
    retried = synthesize(records, expert, out, SynthesisConfig(m=2, batch_size=4), retry_failed=True, progress=False)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert retried.written == 2 and retried.failed == 1 and "error" not in rows[6]
    assert expert.calls[-1] == ["query 5"]  # the invalid record is not sent to the expert


def test_same_seed_same_thoughts(tmp_path):
    a = synthesize(make_records(4), FakeThinker(), tmp_path / "a.jsonl", SynthesisConfig(seed=3), progress=False)
    b = synthesize(make_records(4), FakeThinker(), tmp_path / "b.jsonl", SynthesisConfig(seed=3), progress=False)
    assert a.written == b.written == 4
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()


def test_output_of_another_input_is_refused(tmp_path):
    out = tmp_path / "out.jsonl"
    synthesize(make_records(3), FakeThinker(), out, progress=False)
    other = [{"query": "something else", "pos": ["p"]}] * 3
    with pytest.raises(DataError, match="belongs to another input"):
        synthesize(other, FakeThinker(), out, progress=False)


def test_killed_synthesis_resumes_exactly_once(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in make_records(40)))
    out = tmp_path / "out.jsonl"
    script = textwrap.dedent(
        f"""
        from tests.fakes import FakeThinker
        from o1_retriever.trainer.records import as_records, read_records
        from o1_retriever.trainer.synthesize import SynthesisConfig, synthesize
        synthesize(read_records({str(source)!r}), FakeThinker(delay=0.05), {str(out)!r},
                   SynthesisConfig(batch_size=2), progress=False)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT)
    try:
        for _ in range(600):
            if out.exists() and len(out.read_text().splitlines()) >= 10:
                break
            time.sleep(0.02)
        proc.kill()
    finally:
        proc.wait()
    with out.open("a") as handle:  # as if the kill tore a line in half
        handle.write('{"query": "query 99", "tho')
    partial = len(out.read_text().splitlines())
    assert 10 <= partial < 41
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    expected = synthesize(
        read_records(source), FakeThinker(), tmp_path / "clean.jsonl", SynthesisConfig(batch_size=2), progress=False
    )
    assert expected.written == 40
    assert rows == [json.loads(line) for line in (tmp_path / "clean.jsonl").read_text().splitlines()]


def test_bad_input_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"query": "q", "pos": ["p"]}\n{"query": "q2", "pos": []}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: 'pos' must hold at least one"):
        read_records(bad)
    assert read_records(bad, strict=False)[1].error.startswith(f"{bad}:2")
    bad.write_text('{"query": "q", "pos": ["p"]}\nnot json\n')
    with pytest.raises(DataError, match=r"bad.jsonl:2: malformed JSON"):
        read_records(bad, strict=False)


def test_gzipped_records_are_read(tmp_path):
    import gzip

    path = tmp_path / "voted.jsonl.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(json.dumps({"query": "q", "pos": ["p"]}) + "\n")
    assert read_records(path)[0].query == "q"
