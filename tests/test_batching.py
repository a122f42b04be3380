"""Micro-batching: concurrent calls are gathered into one, each caller gets exactly its share."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from o1_retriever import ThinkThenEmbed
from o1_retriever.model.batching import MicroBatcher
from tests.fakes import FakeThinker

QUERIES = [f"{a} {b}" for a, b in zip("cell gene blood brain drug light wave energy".split(), "abcdefgh")]


def test_concurrent_submits_run_together_and_get_their_share():
    runs = []
    start = threading.Barrier(8)

    def run(items, key):
        runs.append((list(items), key))
        return [f"{key}:{item}" for item in items]

    batcher = MicroBatcher(
        run, lambda result, sizes: [result[sum(sizes[:i]) : sum(sizes[: i + 1])] for i in range(len(sizes))], 0.2
    )

    def call(i):
        start.wait()
        return batcher.submit([i, i + 100], "even" if i % 2 == 0 else "odd")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(8)))
    assert results == [
        [f"{'even' if i % 2 == 0 else 'odd'}:{i}", f"{'even' if i % 2 == 0 else 'odd'}:{i + 100}"] for i in range(8)
    ]
    assert len(runs) == 2 and sorted(len(items) for items, _ in runs) == [8, 8]  # one run per key, all 8 callers


def test_callers_that_keep_arriving_join_one_batch_up_to_the_longest_wait():
    runs = []

    def run(items, key):
        runs.append(list(items))
        return items

    def call(i, batcher):
        time.sleep(0.03 * i)  # started together, they reach the batcher apart (each window sees a new one)
        return batcher.submit([i], None)

    batcher = MicroBatcher(run, lambda result, sizes: [[r] for r in result], window_s=0.1, max_wait_s=2.0)
    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(lambda i: call(i, batcher), range(8))) == [[i] for i in range(8)]
    assert runs == [list(range(8))]
    runs.clear()
    short = MicroBatcher(run, lambda result, sizes: [[r] for r in result], window_s=0.1, max_wait_s=0.1)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: call(4 * i, short), range(2)))  # the second arrives after the first ran
    assert runs == [[0], [4]]


def test_an_error_reaches_every_caller_of_the_batch():
    def run(items, key):
        raise RuntimeError("the thinker is down")

    batcher = MicroBatcher(run, lambda result, sizes: result, 0.1)
    start = threading.Barrier(3)

    def call(i):
        start.wait()
        with pytest.raises(RuntimeError, match="thinker is down"):
            batcher.submit([i], None)

    with ThreadPoolExecutor(3) as pool:
        list(pool.map(call, range(3)))


def test_concurrent_queries_think_in_one_batch_with_the_thoughts_of_sequential_calls(split_model, tiny_lm):
    fake = FakeThinker()
    model = ThinkThenEmbed(split_model.config, fake, split_model.embedder, batch_window_s=0.2)
    start = threading.Barrier(len(QUERIES))

    def one(query):
        start.wait()
        return model.embed_queries([query], n_thoughts=2)

    with ThreadPoolExecutor(len(QUERIES)) as pool:
        together = list(pool.map(one, QUERIES))
    assert len(fake.calls) == 1 and sorted(fake.calls[0]) == sorted(QUERIES)
    alone = [
        ThinkThenEmbed(split_model.config, FakeThinker(), split_model.embedder).embed_queries([q], n_thoughts=2)
        for q in QUERIES
    ]
    for a, b in zip(together, alone):
        assert a.thoughts == b.thoughts and np.allclose(a.vectors, b.vectors, atol=1e-6)
    # the real local thinker: a query's thoughts do not depend on the batch it was generated in
    local = ThinkThenEmbed(split_model.config, split_model.thinker, split_model.embedder, batch_window_s=0.2)
    settings = dict(n_thoughts=2, max_new_tokens=5, temperature=1.0, seed=7)
    start = threading.Barrier(4)

    def local_one(query):
        start.wait()
        return local.embed_queries([query], **settings).thoughts[0]

    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(local_one, QUERIES[:4]))
    sequential = [split_model.think([q], n=2, max_new_tokens=5, temperature=1.0, seed=7)[0] for q in QUERIES[:4]]
    assert concurrent == sequential
