"""A soak of a serving process (issue 35), loopback only, bounded in time: client threads query a Chroma server in
every search mode while another process adds, edits and deletes documents, and the server is stopped and restarted
once in the middle. Afterwards: errors outside the outage, recovery time, every surviving document found by its id
with its last text, no deleted one returned, the lexical side agreeing with the store, and resident memory growth.

    python -m bench.soak --minutes 10 --clients 8 --docs 500 --name soak
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import DATA, RESULTS, write, write_gzip
from bench.process import rss_mb
from bench.store import start_server
from o1_retriever import ChromaIndex, StoreUnavailableError, ThinkThenEmbed
from o1_retriever.data import Document, load_corpus, load_queries

#: (mode, encoding) and how often a client picks it: every mode, thinking rarer (seconds a query on 2 cores)
MODES = {
    ("hybrid", "plain"): 30,
    ("dense", "plain"): 25,
    ("lexical", "plain"): 25,
    ("hybrid", "gated"): 10,
    ("hybrid", "think"): 10,
}


def open_index(model: ThinkThenEmbed, port: int, lexical: Path) -> ChromaIndex:
    return ChromaIndex(model, host="127.0.0.1", port=port, collection="soak", lexical_path=lexical)


def writer(args: argparse.Namespace) -> None:
    """The other process: adds, edits and deletes documents until the deadline, retrying through the outage; each
    finished operation is one line of ``--log`` (the ground truth the check reads)."""
    model = ThinkThenEmbed.from_pretrained(cache=False)
    corpus = load_corpus(args.data)[args.docs : args.docs * 2]
    index = open_index(model, args.port, Path(args.lexical))
    rng = random.Random(1)
    live: list[str] = []
    with open(args.log, "a") as log:
        while time.time() < args.deadline:
            # the store keeps its size: the writer adds up to --churn documents, then adds and deletes alike
            action = rng.choice(["add", "edit", "delete"]) if len(live) >= args.churn else "add"
            if action == "add":
                doc = corpus[len(live) % len(corpus)]
                doc = Document(f"w{rng.randrange(10**9)}", doc.text, doc.title, {})
            elif action == "edit":
                doc = Document(rng.choice(live), f"edited {rng.randrange(10**9)} " + corpus[0].text, "", {})
            else:
                doc = Document(rng.choice(live), "", "", {})
            while time.time() < args.deadline:
                try:
                    if action == "delete":
                        index.delete([doc.id])
                    else:
                        index.add_documents([doc])
                    break
                except StoreUnavailableError:
                    time.sleep(0.5)
            else:
                break
            if action == "add":
                live.append(doc.id)
            elif action == "delete":
                live.remove(doc.id)
            log.write(json.dumps({"t": time.time(), "action": action, "id": doc.id, "text": doc.text}) + "\n")
            log.flush()
            time.sleep(args.pause)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--docs", type=int, default=500)
    parser.add_argument("--down-seconds", type=float, default=5.0, help="how long the server stays stopped")
    parser.add_argument("--pause", type=float, default=0.5, help="the writer's pause between operations, seconds")
    parser.add_argument("--churn", type=int, default=50, help="documents the writer keeps added (then adds = deletes)")
    parser.add_argument("--name", default="soak", help="bench/results/NAME.json")
    parser.add_argument("--writer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lexical", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("--deadline", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        return writer(args)
    work = Path(tempfile.mkdtemp(prefix="o1-soak-"))
    server, port = start_server(work / "chroma")
    model = ThinkThenEmbed.from_pretrained(cache=work / "thoughts.sqlite")
    index = open_index(model, port, work / "lexical")
    index.add_documents(load_corpus(args.data)[: args.docs])
    queries = list(load_queries(args.data).values())
    began = time.time()
    deadline = began + args.minutes * 60
    log = work / "writes.jsonl"
    write_process = subprocess.Popen(
        [sys.executable, "-m", "bench.soak", "--writer", "--data", args.data, "--docs", str(args.docs)]
        + ["--port", str(port), "--lexical", str(work / "lexical-writer"), "--log", str(log)]
        + ["--deadline", str(deadline), "--pause", str(args.pause), "--churn", str(args.churn)]
    )
    calls: list[dict] = []
    memory: list[tuple[float, float]] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.time() < deadline:
            mode, encoding = rng.choices(list(MODES), weights=list(MODES.values()))[0]
            start = time.time()
            try:
                index.query(rng.choice(queries), k=10, mode=mode, encoding=encoding)
                outcome = "ok"
            except StoreUnavailableError:
                outcome = "unavailable"
                time.sleep(0.5)
            except Exception as error:  # anything else is a failure the soak reports by name
                outcome = f"{type(error).__name__}: {str(error)[:200]}"
            with lock:
                calls.append({"t": start, "seconds": time.time() - start, "mode": f"{mode}/{encoding}", "out": outcome})

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    outage: dict[str, float] = {}
    while time.time() < deadline:
        memory.append((time.time() - began, rss_mb()))
        if not outage and time.time() > began + (deadline - began) / 2:
            outage["stopped"] = time.time()
            server.kill()
            server.wait()
            time.sleep(args.down_seconds)
            server, _ = start_server(work / "chroma", port)
            outage["back"] = time.time()
        time.sleep(2)
    for thread in threads:
        thread.join()
    write_process.wait()
    payload = {
        "command": "python -m bench.soak " + " ".join(sys.argv[1:]),
        # glibc's malloc arenas: unset is its default (8 per core); MALLOC_ARENA_MAX=2 bounds them
        "malloc_arena_max": os.environ.get("MALLOC_ARENA_MAX"),
        **check(index, log, calls, outage, memory),
    }
    server.kill()
    write(args.name, payload)
    trace = {"outage": outage, "rss_mb": memory, "calls": calls, "writes": log.read_text().splitlines()}
    write_gzip(RESULTS / f"{args.name}-trace.json.gz", json.dumps(trace).encode())


def check(index: ChromaIndex, log: Path, calls: list[dict], outage: dict, memory: list) -> dict:
    """The figures of the soak and the store's final state against the writer's log."""
    final: dict[str, str | None] = {}
    writes = [json.loads(line) for line in log.read_text().splitlines()]
    for entry in writes:
        final[entry["id"]] = None if entry["action"] == "delete" else entry["text"]
    survivors = {i: text for i, text in final.items() if text is not None}
    deleted = {i for i, text in final.items() if text is None}
    stored = set(index.store.ids())
    fetched = index.store.fetch(list(survivors))
    lost = sorted(i for i, text in survivors.items() if i not in fetched or fetched[i][0] != text)
    resurrected = sorted(deleted & stored)
    index.prepare_lexical_index()
    lexical_ids = set(index._lexical(index.count()).ids)
    after = [c for c in calls if c["t"] > outage["back"]]
    recovered = min((c["t"] + c["seconds"] for c in after if c["out"] == "ok"), default=None)
    # a failure belongs to the outage when its call ran during it (a thinking call may start well before the stop)
    during = lambda c: c["t"] <= (recovered or 0) and c["t"] + c["seconds"] >= outage["stopped"]  # noqa: E731
    outside = [c for c in calls if c["out"] != "ok" and not during(c)]
    warm = [rss for t, rss in memory if t >= memory[-1][0] * 0.2]
    documents = len(stored)
    return {
        "calls": len(calls),
        "calls_per_mode": {m: sum(c["mode"] == m for c in calls) for m in sorted({c["mode"] for c in calls})},
        "errors_outside_outage": len(outside),
        "errors_outside_examples": sorted({c["out"] for c in outside})[:5],
        "unavailable_during_outage": sum(c["out"] == "unavailable" for c in calls),
        "outage_seconds": outage["back"] - outage["stopped"],
        "recovery_seconds_after_server_back": None if recovered is None else recovered - outage["back"],
        "writes": {a: sum(w["action"] == a for w in writes) for a in ("add", "edit", "delete")},
        "lost_documents": lost,
        "resurrected_documents": resurrected,
        "lexical_agrees_with_store": lexical_ids == stored,
        "documents_at_the_end": documents,
        "rss_mb_after_warmup_first_last": [warm[0], warm[-1]] if warm else None,
        "rss_growth_after_warmup": (warm[-1] / warm[0] - 1) if warm else None,
        "latency_ms_p50_by_mode": {
            m: 1000 * sorted(c["seconds"] for c in calls if c["mode"] == m and c["out"] == "ok")[
                sum(c["mode"] == m and c["out"] == "ok" for c in calls) // 2
            ]
            for m in sorted({c["mode"] for c in calls if c["out"] == "ok"})
        },
    }


if __name__ == "__main__":
    main()
