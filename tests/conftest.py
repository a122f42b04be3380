from __future__ import annotations

import os

# the suite asks for MKL's strict reproducible mode, as the CLI does for its process (the package leaves it alone):
# int8 thoughts then do not depend on their batch on multithreaded MKL
os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")

import socket  # noqa: E402
import threading
from http.server import ThreadingHTTPServer

import pytest

from tests.fakes import FakeEndpoint
from tests.tiny_models import DOCS, make_causal_lm, make_encoder


@pytest.fixture(autouse=True)
def _process_settings():
    """The CLI configures its own process (torch's threads through $O1_RETRIEVER_THREADS, MKL's mode): a test that
    runs it in this process leaves nothing of that to the next test."""
    import torch

    names = ("O1_RETRIEVER_THREADS", "MKL_CBWR")
    saved, threads = {name: os.environ.get(name) for name in names}, torch.get_num_threads()
    yield
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def _offline(monkeypatch, tmp_path_factory):
    """No hub, no network but loopback; caches in a temporary home."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("O1_RETRIEVER_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    real_connect = socket.socket.connect

    def loopback_only(self, address):
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "localhost", "::1") and not host.startswith("/"):
            raise OSError(f"tests may not reach the network: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory):
    return make_causal_lm(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory):
    return make_causal_lm(tmp_path_factory.mktemp("tiny-qwen"), arch="qwen2")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory):
    return make_encoder(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture
def shared_model(tiny_lm, tmp_path):
    from o1_retriever import ThinkThenEmbed

    return ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=tmp_path / "thoughts.sqlite")


@pytest.fixture
def split_model(tiny_lm, tiny_encoder, tmp_path):
    from o1_retriever import ThinkThenEmbed

    return ThinkThenEmbed.from_pretrained(
        tiny_lm, encoder=str(tiny_encoder), device="cpu", cache=tmp_path / "thoughts.sqlite"
    )


@pytest.fixture
def store(shared_model, tmp_path):
    """A persistent Chroma index of DOCS built by the shared-mode tiny model."""
    from o1_retriever import ChromaIndex

    chroma = ChromaIndex(shared_model, tmp_path / "index")
    chroma.add_documents(DOCS)
    return chroma


@pytest.fixture
def endpoint():
    """The base URL of a FakeEndpoint served on loopback for one test."""
    FakeEndpoint.script, FakeEndpoint.seen = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1"
    server.shutdown()
