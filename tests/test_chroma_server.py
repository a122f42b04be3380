"""A Chroma server (``chroma run`` on loopback): the same rows as the embedded store, and a server that is down or
goes down is one clear error naming it, in Python as on the command line; the index resumes when it is back."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from o1_retriever import ChromaIndex, StoreUnavailableError
from o1_retriever.cli import app
from tests.tiny_models import DOCS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(path: Path, port: int) -> subprocess.Popen:
    chroma = Path(sys.executable).with_name("chroma")
    command = [str(chroma)] if chroma.exists() else ["chroma"]
    server = subprocess.Popen(
        [*command, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(150):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    pytest.skip("chroma run did not start")


@pytest.fixture
def server(tmp_path):
    port = free_port()
    process = start_server(tmp_path / "server-data", port)
    yield tmp_path / "server-data", port, process
    process.kill()
    process.wait()


def test_a_server_that_is_down_is_one_error_naming_it(split_model, server, tmp_path):
    data, port, process = server
    index = ChromaIndex(split_model, host="127.0.0.1", port=port, lexical_path=tmp_path / "lexical")
    index.add_documents(DOCS[:2])
    assert [h.id for h in index.query("cancer risk", k=1, encoding="plain")]
    process.kill()
    process.wait()
    with pytest.raises(StoreUnavailableError, match=f"cannot reach Chroma server 127.0.0.1:{port}.*chroma run"):
        index.query("cancer risk", k=1, encoding="plain")
    with pytest.raises(StoreUnavailableError, match="retry once it is back"):
        index.add_documents(DOCS[2:])
    with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
        ChromaIndex(split_model, host="127.0.0.1", port=port)
    restarted = start_server(data, port)  # the same data: what was stored is there, the rest goes in on rerun
    try:
        again = ChromaIndex(split_model, host="127.0.0.1", port=port, lexical_path=tmp_path / "lexical")
        assert again.count() == 2
        report = again.add_documents(DOCS)
        assert (report.skipped, report.added, again.count()) == (2, len(DOCS) - 2, len(DOCS))
    finally:
        restarted.kill()
        restarted.wait()
    checkpoint = split_model.save_pretrained(tmp_path / "checkpoint")
    search = ["search", "cancer", "--model", str(checkpoint), "--host", "127.0.0.1", "--port", str(port)]
    down = CliRunner().invoke(app, search)
    assert down.exit_code == 2 and f"error: cannot reach Chroma server 127.0.0.1:{port}" in down.output


def test_two_shards_fill_one_server_as_one_process_does(split_model, server, tmp_path):
    """``index --shard 0/2`` and ``--shard 1/2`` running at once into one server give the collection one process gives:
    the same ids, vectors and lexical results."""
    import json

    import numpy as np

    from o1_retriever.data import shard

    _, port, _ = server
    checkpoint = split_model.save_pretrained(tmp_path / "checkpoint")
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n" for d in DOCS))
    assert sorted(d.id for i in range(2) for d in shard(DOCS, i, 2)) == sorted(d.id for d in DOCS)
    base = [sys.executable, "-m", "o1_retriever", "--threads", "1", "index", str(corpus), "--model", str(checkpoint)]
    server_at = ["--host", "127.0.0.1", "--port", str(port), "--lexical-path", str(tmp_path / "lexical")]
    shards = [
        subprocess.Popen([*base, *server_at, "--collection", "sharded", "--shard", f"{i}/2"], stderr=subprocess.PIPE)
        for i in range(2)
    ]
    assert all(p.wait(timeout=300) == 0 for p in shards), [p.stderr.read().decode()[-500:] for p in shards]
    whole = subprocess.run([*base, *server_at, "--collection", "whole"], capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    last = subprocess.run([*base, *server_at, "--collection", "sharded"], capture_output=True, text=True, timeout=300)
    assert f"indexed 0 documents, skipped {len(DOCS)} stored unchanged" in last.stdout
    indexes = {
        name: ChromaIndex(split_model, host="127.0.0.1", port=port, collection=name, lexical_path=tmp_path / "lex2")
        for name in ("sharded", "whole")
    }
    rows = {
        name: index.store.collection.get(include=["embeddings", "documents", "metadatas"])
        for name, index in indexes.items()
    }
    order = {name: np.argsort(r["ids"]) for name, r in rows.items()}
    assert sorted(rows["sharded"]["ids"]) == sorted(rows["whole"]["ids"]) == sorted(d.id for d in DOCS)
    vectors = {name: np.asarray(r["embeddings"])[order[name]] for name, r in rows.items()}
    assert np.allclose(vectors["sharded"], vectors["whole"], atol=1e-6)
    for query in ("cancer risk", "gene expression cells", "microwave"):
        lexical = [[h.id for h in index.query(query, k=4, mode="lexical")] for index in indexes.values()]
        assert lexical[0] == lexical[1]
    bad = CliRunner().invoke(app, ["index", str(corpus), "--model", str(checkpoint), "--shard", "2/2"])
    assert bad.exit_code == 2 and "--shard is i/n with 0 <= i < n" in bad.output
