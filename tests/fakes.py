"""Fakes for unit tests: a thinker (deterministic text from the query and seed, optional failures and delay) and an
OpenAI-compatible endpoint to serve on loopback."""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler

from o1_retriever.model.prompts import thinking_messages
from o1_retriever.model.sampling import row_seed
from o1_retriever.model.thinkers import Thoughts


class FakeThinker:
    identity = "fake"
    embeds = False

    def __init__(self, empty_for: set[str] = frozenset(), delay: float = 0.0) -> None:
        self.empty_for = set(empty_for)
        self.delay = delay
        self.calls: list[list[str]] = []
        self.prompts: list[list[dict]] = []

    def think(self, requests, settings):
        self.calls.append([r.query for r in requests])
        self.prompts += [thinking_messages(r.query, r.examples) for r in requests]
        time.sleep(self.delay)
        n = settings.n_thoughts
        out = []
        for r in requests:
            if r.query in self.empty_for:
                out.append(Thoughts([], [f"the expert returned empty text ({n} of {n})"]))
            else:
                out.append(
                    Thoughts(
                        [f"thought {i} about {r.query} #{row_seed(settings.seed, r.query, i) % 1000}" for i in range(n)]
                    )
                )
        return out


class FakeEndpoint(BaseHTTPRequestHandler):
    """An OpenAI-compatible /chat/completions on loopback: it answers "evidence shows <seed % 7> cells", after the
    statuses in ``script``; a query containing "hang" waits 3 s, "malformed" gets a broken body, "empty" no text."""

    script: list = []  # statuses to answer before succeeding
    seen: list = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append((self.headers.get("Authorization"), body))
        status = type(self).script.pop(0) if type(self).script else 200
        if status != 200:
            message = json.dumps({"error": {"message": "Incorrect API key" if status == 401 else "busy"}}).encode()
            self.send_response(status)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", str(len(message)))
            self.end_headers()
            self.wfile.write(message)
            return
        query = body["messages"][-1]["content"]
        if "hang" in query:
            time.sleep(3)
        text = "" if "empty" in query else f"evidence shows {body['seed'] % 7} cells"
        payload = b"{not json" if "malformed" in query else json.dumps({"choices": [{"message": {"content": text}}]})
        payload = payload if isinstance(payload, bytes) else payload.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass
