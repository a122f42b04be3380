"""Thinkers: the local LM (seeded, batch-independent), an OpenAI-compatible endpoint on loopback (retries, a 500, a
hang bounded by the timeout, a malformed body), LangChain and LlamaIndex LLMs; and that a model built with any of
them embeds each query with exactly the thoughts the thinker wrote."""

import time

import numpy as np
import torch
import pytest

from o1_retriever import ThinkThenEmbed
from o1_retriever.model import embedders
from o1_retriever.model.config import ThinkingConfig
from o1_retriever.model.pooling import mean_of_unit_vectors
from o1_retriever.model.thinkers import ThinkerError, ThinkRequest
from o1_retriever.model.thinkers.local import LocalThinker
from o1_retriever.model.thinkers.openai import OpenAIThinker
from tests.fakes import FakeEndpoint

SETTINGS = ThinkingConfig(n_thoughts=2, max_new_tokens=6, temperature=1.0, seed=1)


def expected_vector(model: ThinkThenEmbed, query: str, thoughts: list[str]) -> np.ndarray:
    """The query vector a model must produce from these thoughts: the mean of its query+thought vectors and the
    thought-free vector."""
    with_thoughts = embedders.embed_queries(model.embedder, [query] * len(thoughts), thoughts)
    plain = embedders.embed_queries(model.embedder, [query], [None])
    return mean_of_unit_vectors(np.vstack([with_thoughts, plain]))


def test_local_thinker_is_seeded_and_batch_independent(tiny_lm):
    thinker = LocalThinker.load(str(tiny_lm), device="cpu")
    thinker.batch_rows = 4  # two prompts per generation call
    requests = [ThinkRequest(f"question {w}") for w in ("cell", "gene", "brain")]
    together = thinker.think(requests, SETTINGS)
    alone = [thinker.think([r], SETTINGS)[0] for r in requests]
    assert [t.texts for t in together] == [t.texts for t in alone]
    assert all(len(t.texts) == 2 and not t.errors for t in together)
    other_seed = thinker.think(requests, ThinkingConfig(n_thoughts=2, max_new_tokens=6, temperature=1.0, seed=2))
    assert [t.texts for t in other_seed] != [t.texts for t in together]
    with_shots = thinker.prompt(ThinkRequest("q", (("shot query", "shot passage"),)))
    assert len(with_shots) > len(thinker.prompt(ThinkRequest("q")))  # few-shot turns reach the chat template


def test_int8_thoughts_do_not_depend_on_the_batch(tiny_lm, monkeypatch):
    """int8 activations are ranged per token, and prompts are padded to a width of their own: a query's thoughts
    are the same alone and beside queries of any length. One range per generation call once made them depend on
    their neighbours, and padding to a longer neighbour on its length (README, "Deterministic")."""
    from o1_retriever.model.kv_cache import padded_width
    from o1_retriever.model.quantization import int8_supported

    if not int8_supported():
        pytest.skip("no int8 kernel on this CPU")
    thinker = LocalThinker.load(str(tiny_lm), device="cpu", precision="int8")
    settings = ThinkingConfig(n_thoughts=3, max_new_tokens=12, temperature=1.0, seed=0)
    queries = ["question cell gene", "brain brain brain", "brain", "a much longer question " * 12]
    widths = {padded_width(len(thinker.prompt(ThinkRequest(q))), thinker.PAD_MULTIPLE) for q in queries}
    assert len(widths) == 2  # two groups of one width: one generation call each
    calls = []
    generate = thinker.lm.generate
    monkeypatch.setattr(
        thinker.lm, "generate", lambda prompts, *a, **kw: calls.append(prompts) or generate(prompts, *a, **kw)
    )
    alone = thinker.think([ThinkRequest(queries[0])], settings)[0].texts
    together = thinker.think([ThinkRequest(q) for q in queries], settings)
    assert together[0].texts == alone
    assert [t.texts for t in together] == [thinker.think([ThinkRequest(q)], settings)[0].texts for q in queries]
    assert len(calls) == 1 + 2 + len(queries)
    assert all(len({padded_width(len(p), thinker.PAD_MULTIPLE) for p in prompts}) == 1 for prompts in calls)


def test_build_thinker_gives_a_local_lm_the_precision_asked_for(tiny_lm):
    """``--thinker local --precision int8`` quantises that LM (it once stayed fp32 silently); a remote thinker has no
    weights here to quantise, so a precision for it is refused."""
    from o1_retriever.model.quantization import Int8Linear, int8_supported
    from o1_retriever.model.thinkers import build_thinker

    fp32 = build_thinker("local", str(tiny_lm), device="cpu")
    assert fp32.precision == "fp32"
    int8 = build_thinker("local", str(tiny_lm), device="cpu", precision="int8")
    if int8_supported():
        assert int8.precision == "int8" and int8.identity != fp32.identity  # cached thoughts are kept apart
        assert any(isinstance(m, Int8Linear) for m in int8.lm.model.modules())
    with pytest.raises(ValueError, match="local thinker"):
        build_thinker("openai", "tiny", base_url="http://127.0.0.1:1/v1", precision="int8")
    with pytest.raises(ValueError, match="precision must be one of"):
        build_thinker("local", str(tiny_lm), device="cpu", precision="int4")


def test_openai_thinker_retries_and_never_shows_the_key(endpoint, monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret")
    FakeEndpoint.script = [429, 500]  # two transient failures, then success
    thinker = OpenAIThinker(endpoint, "tiny", api_key_env="MY_KEY", concurrency=1, backoff=0.01)
    [written] = thinker.think([ThinkRequest("why do cells die")], SETTINGS)
    assert len(written.texts) == 2 and written.texts[0].startswith("evidence shows") and not written.errors
    assert FakeEndpoint.seen[0][0] == "Bearer sk-secret" and "sk-secret" not in repr(thinker)
    sent = FakeEndpoint.seen[-1][1]
    assert (
        sent["max_tokens"] == 6 and sent["temperature"] == 1.0 and "why do cells die" in sent["messages"][0]["content"]
    )
    [empty] = thinker.think([ThinkRequest("empty")], SETTINGS)
    assert empty.texts == [] and "empty answer" in empty.errors[0]


def test_openai_thinker_failures_are_errors_naming_the_endpoint(endpoint):
    thinker = OpenAIThinker(endpoint, "tiny", max_retries=2, backoff=0.01, timeout=0.5)
    FakeEndpoint.script = [500] * 10
    [failed] = thinker.think([ThinkRequest("q")], ThinkingConfig(n_thoughts=1))
    assert failed.texts == [] and "HTTP 500" in failed.errors[0] and "after 3 attempts" in failed.errors[0]
    assert endpoint in failed.errors[0] and ": busy" in failed.errors[0]  # what the server said
    FakeEndpoint.script = [401]
    refusing = OpenAIThinker(endpoint, "tiny", api_key_env="MY_KEY", backoff=0.01)
    [refused] = refusing.think([ThinkRequest("q")], ThinkingConfig(n_thoughts=1))
    assert (
        "HTTP 401" in refused.errors[0]
        and "Incorrect API key (the API key is read from $MY_KEY)" in (refused.errors[0])
    )
    assert len(FakeEndpoint.script) == 0 and refused.texts == []  # not retried
    FakeEndpoint.script = []
    began = time.perf_counter()
    [hung] = OpenAIThinker(endpoint, "tiny", max_retries=0, timeout=0.5).think([ThinkRequest("hang")], SETTINGS)
    assert time.perf_counter() - began < 2.5 and "cannot reach" in hung.errors[0]  # bounded by the timeout
    [malformed] = thinker.think([ThinkRequest("malformed")], ThinkingConfig(n_thoughts=1))
    assert "malformed response" in malformed.errors[0]
    down = OpenAIThinker("http://127.0.0.1:9/v1", "tiny", max_retries=1, backoff=0.01, timeout=2)
    assert "cannot reach" in down.think([ThinkRequest("q")], ThinkingConfig(n_thoughts=1))[0].errors[0]


def test_a_model_with_an_endpoint_thinker_embeds_its_thoughts(endpoint, tiny_lm, tiny_encoder, tmp_path):
    thinker = OpenAIThinker(endpoint, "tiny", backoff=0.01)
    model = ThinkThenEmbed.from_pretrained(
        tiny_lm, encoder=str(tiny_encoder), thinker=thinker, device="cpu", cache=tmp_path / "cache.sqlite"
    )
    assert model.thinker is thinker  # the checkpoint's own LM is not loaded
    query = "why do cells die"
    embedded = model.embed_queries([query], n_thoughts=2, temperature=1.0, max_new_tokens=6, seed=1)
    [thoughts] = embedded.thoughts
    assert thoughts == [t for t in thinker.think([ThinkRequest(query)], SETTINGS)[0].texts]
    assert np.allclose(embedded.vectors[0], expected_vector(model, query, thoughts), atol=1e-6)
    requests = len(FakeEndpoint.seen)
    again = model.embed_queries([query], n_thoughts=2, temperature=1.0, max_new_tokens=6, seed=1)
    assert len(FakeEndpoint.seen) == requests and np.array_equal(again.vectors, embedded.vectors)  # cached


def test_a_failing_thinker_raises_unless_asked_to_fall_back(endpoint, tiny_lm, tiny_encoder, tmp_path):
    thinker = OpenAIThinker(endpoint, "tiny", max_retries=0)
    options = dict(encoder=str(tiny_encoder), thinker=thinker, device="cpu", cache=tmp_path / "cache.sqlite")
    model = ThinkThenEmbed.from_pretrained(tiny_lm, **options)
    FakeEndpoint.script = [500] * 3
    with pytest.raises(ThinkerError, match=r"OpenAIThinker\(url='http://127.0.0.1:\d+/v1/chat/completions'.*HTTP 500"):
        model.embed_queries(["cell death"])
    fallback = ThinkThenEmbed.from_pretrained(tiny_lm, on_thinker_error="no-think", **options)
    FakeEndpoint.script = [500] * 3
    embedded = fallback.embed_queries(["cell death"])
    assert embedded.thoughts == [[]]
    assert np.allclose(embedded.vectors, fallback.embed_queries(["cell death"], encoding="plain").vectors, atol=1e-6)
    again = fallback.embed_queries(["cell death"])  # the failure was not cached: the endpoint is asked again
    assert len(again.thoughts[0]) == 3


def test_langchain_chat_model_as_thinker(tiny_lm, tiny_encoder, tmp_path):
    from langchain_core.language_models.fake_chat_models import FakeListChatModel

    from o1_retriever.integrations.langchain import LangChainThinker

    replies = ["cancer risk is high", "smoking raises cancer risk"]
    thinker = LangChainThinker(FakeListChatModel(responses=replies), max_concurrency=1)
    model = ThinkThenEmbed.from_pretrained(
        tiny_lm, encoder=str(tiny_encoder), thinker=thinker, device="cpu", cache=tmp_path / "c.sqlite"
    )
    embedded = model.embed_queries(["what raises cancer risk"], n_thoughts=2)
    assert sorted(embedded.thoughts[0]) == sorted(replies)
    expected = expected_vector(model, "what raises cancer risk", embedded.thoughts[0])
    assert np.allclose(embedded.vectors[0], expected, atol=1e-6)


def test_llamaindex_llm_as_thinker(tiny_lm, tiny_encoder, tmp_path):
    from llama_index.core.llms import MockLLM

    from o1_retriever.integrations.llamaindex import LlamaIndexThinker

    thinker = LlamaIndexThinker(MockLLM(max_tokens=4))  # MockLLM answers "text text text text"
    model = ThinkThenEmbed.from_pretrained(
        tiny_lm, encoder=str(tiny_encoder), thinker=thinker, device="cpu", cache=tmp_path / "c.sqlite"
    )
    embedded = model.embed_queries(["gene expression in brain cells"], n_thoughts=2)
    assert embedded.thoughts == [["text text text text"] * 2]
    expected = expected_vector(model, "gene expression in brain cells", embedded.thoughts[0])
    assert np.allclose(embedded.vectors[0], expected, atol=1e-6)


def test_shared_mode_refuses_another_thinker(tiny_lm):
    with pytest.raises(ValueError, match="shared mode"):
        ThinkThenEmbed.from_pretrained(tiny_lm, thinker=OpenAIThinker("http://127.0.0.1:9/v1", "x"), cache=False)


def test_int8_thinker_is_seeded_and_keyed_apart_from_fp32(tiny_lm, tiny_encoder):
    from o1_retriever.model.config import ModelConfig
    from o1_retriever.model.quantization import Int8Linear

    options = dict(encoder=str(tiny_encoder), device="cpu", cache=False)
    fp32 = ThinkThenEmbed.from_pretrained(tiny_lm, **options)
    int8 = ThinkThenEmbed.from_pretrained(tiny_lm, precision="int8", **options)
    assert int8.config.thinker_precision == "int8" and int8.thinker.identity != fp32.thinker.identity
    assert int8.thinker._int8_pending  # quantised when it first thinks: a load that only embeds does not pay
    assert not [m for m in int8.thinker.lm.model.modules() if type(m) is torch.nn.Linear]  # every linear, head too
    assert isinstance(int8.thinker.lm.lm_head, Int8Linear)
    a = int8.think(["cell gene"], n=2, max_new_tokens=5, temperature=1.0, seed=3)
    assert a == int8.think(["cell gene"], n=2, max_new_tokens=5, temperature=1.0, seed=3)
    assert int8.document_fingerprint == fp32.document_fingerprint  # documents are the encoder's: one index serves both
    with pytest.raises(ValueError, match="int8 needs split mode"):
        ModelConfig(mode="shared", thinker_precision="int8")


def test_no_repeat_ngram_blocks_loops_and_keeps_old_cache_keys(tiny_lm):
    lm = LocalThinker.load(str(tiny_lm), device="cpu").lm
    prompt = lm.thinking_prompt("cells and genes", 64)
    args = dict(max_new_tokens=40, temperature=0.0, top_p=1.0, embed=False, samples_per_prompt=2)
    looping = lm.generate([prompt], [1, 2], **args).token_ids  # a tiny random model loops greedily
    blocked = lm.generate([prompt], [1, 2], no_repeat_ngram=2, **args).token_ids
    assert blocked == lm.generate([prompt], [1, 2], no_repeat_ngram=2, **args).token_ids  # deterministic
    for row in blocked:
        bigrams = list(zip(row, row[1:]))
        assert len(bigrams) == len(set(bigrams))
    assert any(len(set(zip(r, r[1:]))) < len(r) - 1 for r in looping)  # the setting changed something
    assert "no_repeat_ngram" not in ThinkingConfig().cache_settings()  # thoughts cached before it stay valid
    assert ThinkingConfig(no_repeat_ngram=3).cache_settings()["no_repeat_ngram"] == 3
    with pytest.raises(ValueError, match="no_repeat_ngram"):
        ThinkingConfig(no_repeat_ngram=1)


def test_remote_thinkers_refuse_local_only_settings():
    thinker = OpenAIThinker("http://127.0.0.1:9/v1", "tiny")
    with pytest.raises(ValueError, match="local thinker only"):
        thinker.think([ThinkRequest("q")], ThinkingConfig(no_repeat_ngram=3))
    with pytest.raises(ValueError, match="local thinker only"):
        thinker.think([ThinkRequest("q")], ThinkingConfig(stop_at_sentence_end=True))


def test_int8_falls_back_to_fp32_where_the_cpu_cannot(tiny_lm, tiny_encoder, monkeypatch):
    import o1_retriever.model.thinkers.local as local

    monkeypatch.setattr(local, "int8_supported", lambda: False)
    model = ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(tiny_encoder), precision="int8", cache=False)
    with pytest.warns(UserWarning, match="stays fp32"):  # said when the thinker loads: when it is first needed
        assert model.thinker.precision == "fp32"
    assert [m for m in model.thinker.lm.model.modules() if type(m) is torch.nn.Linear]  # untouched


def test_reserved_kv_cache_generates_what_a_growing_cache_does(tiny_lm, monkeypatch):
    import o1_retriever.model.causal_lm as causal_lm
    from transformers import DynamicCache

    thinker = LocalThinker.load(str(tiny_lm), device="cpu")
    lm = thinker.lm
    prompts_ids = [thinker.prompt(ThinkRequest(f"question {w}")) for w in ("cell", "gene brain energy")]
    options = dict(max_new_tokens=[9, 4], temperature=1.0, top_p=0.9, embed=True, samples_per_prompt=3)
    from o1_retriever.model.kv_cache import ReservedLayer

    monkeypatch.setattr(ReservedLayer, "RESERVE", 2)  # room runs out mid-thought: it grows again
    reserved = lm.generate(prompts_ids, list(range(6)), **options)
    monkeypatch.setattr(causal_lm, "ReservedCache", DynamicCache)
    growing = lm.generate(prompts_ids, list(range(6)), **options)
    assert reserved.token_ids == growing.token_ids
    assert len({len(t) for t in reserved.token_ids}) > 1  # rows left the batch at different steps
    assert np.allclose(reserved.vectors, growing.vectors, atol=1e-5)


def test_an_int8_model_saves_the_rows_it_loaded(tiny_lm, tiny_encoder, tmp_path):
    from safetensors.torch import load_file

    options = dict(encoder=str(tiny_encoder), device="cpu", cache=False)
    fp32 = ThinkThenEmbed.from_pretrained(tiny_lm, **options).save_pretrained(tmp_path / "fp32")
    int8 = ThinkThenEmbed.from_pretrained(tiny_lm, precision="int8", **options)
    before = int8.save_pretrained(tmp_path / "before")  # nothing quantised yet
    int8.think(["cell gene"], n=1, max_new_tokens=2)
    after = int8.save_pretrained(tmp_path / "after")  # the head is int8 now; its rows are the tied input rows
    rows = [load_file(str(folder / "special_tokens.safetensors")) for folder in (fp32, before, after)]
    assert all(torch.equal(r["input_embeddings"], rows[0]["input_embeddings"]) for r in rows)


def test_the_cli_asks_mkl_for_reproducible_products_and_importing_the_package_changes_nothing():
    """With several threads MKL splits a product by its row count; int8 thinking amplifies the last bits that moves,
    so a query's thoughts depended on its batch (an AVX-512 machine). The CLI asks for MKL's strict mode in its own
    process unless the environment chose one; importing the package, a guest in an app's process, sets nothing."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("MKL_CBWR", "O1_RETRIEVER_THREADS")}
    code = "import os, torch; t = torch.get_num_threads(); import o1_retriever; print(os.environ.get('MKL_CBWR'))"
    imported = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    cli = "from o1_retriever.cli import configure_process; import os; configure_process('search', None); "
    cli += "print(os.environ['MKL_CBWR'])"
    default = subprocess.run([sys.executable, "-c", cli], env=env, capture_output=True, text=True, check=True)
    chosen = subprocess.run(
        [sys.executable, "-c", cli], env={**env, "MKL_CBWR": "COMPATIBLE"}, capture_output=True, text=True, check=True
    )
    assert (imported.stdout.strip(), default.stdout.strip(), chosen.stdout.strip()) == (
        "None",
        "AUTO,STRICT",
        "COMPATIBLE",
    )


def test_stop_at_sentence_end_cuts_each_thought_at_its_first_boundary(tiny_lm):
    from o1_retriever.model.sampling import SentenceMarks

    lm = LocalThinker.load(str(tiny_lm), device="cpu").lm
    vocabulary = lm.tokenizer.batch_decode([[i] for i in range(len(lm.tokenizer))])
    assert lm.sentence_marks == SentenceMarks.of(vocabulary)  # the real vocabulary's marks: words, no sentence ends
    # the tiny vocabulary has no punctuation: let "the" end a sentence and every word open one with a space
    words = [i for i, t in enumerate(vocabulary) if t.strip() and not t.startswith("<")]
    lm.sentence_marks = SentenceMarks(
        frozenset({lm.tokenizer.convert_tokens_to_ids("the")}), frozenset(words), frozenset(), frozenset()
    )
    prompt = lm.thinking_prompt("cells and genes", 64)
    args = dict(max_new_tokens=30, temperature=1.0, top_p=1.0, embed=False, samples_per_prompt=4)
    whole = lm.generate([prompt], [1, 2, 3, 4], **args).token_ids
    cut = lm.generate([prompt], [1, 2, 3, 4], stop_at_sentence_end=True, **args).token_ids
    for full, short in zip(whole, cut):
        boundary = next((i for i in range(1, len(full)) if lm.sentence_marks.stops_before(full[:i], full[i])), None)
        assert short == full[:boundary]  # the same draw, up to where its second sentence would begin
    assert any(len(s) < len(f) for s, f in zip(cut, whole))  # the setting changed something
    assert "stop_at_sentence_end" not in ThinkingConfig().cache_settings()  # thoughts cached before it stay valid
    assert ThinkingConfig(stop_at_sentence_end=True).cache_settings()["stop_at_sentence_end"] is True


def test_a_split_models_thinker_loads_when_a_query_first_thinks(tiny_lm, tiny_encoder):
    """A retriever that never thinks (plain or distilled queries, the defaults) never loads its thinker's LM."""
    model = ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(tiny_encoder), cache=False)
    assert not model.thinker.loaded and not model.thinker.embeds
    assert repr(model.thinker) == f"LocalThinker({str(tiny_lm)!r}, trained=False, embeds=False)"
    model.embed_queries(["cancer risk"], encoding="plain")
    model.embed_documents(["gene expression"])
    assert model.document_fingerprint and not model.thinker.loaded
    thought = model.embed_queries(["cancer risk"], encoding="think", n_thoughts=1, max_new_tokens=3)
    assert model.thinker.loaded and len(thought.thoughts[0]) == 1
    assert repr(model.thinker) == repr(model.thinker.thinker)  # the same words before and after it loads
