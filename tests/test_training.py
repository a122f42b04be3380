import json
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from o1_retriever import ThinkThenEmbed
from o1_retriever.cli import app
from o1_retriever.data import DataError
from o1_retriever.trainer.config import TrainConfig
from o1_retriever.trainer.train import RunExistsError, train
from tests.train_helpers import voted_records, write_records

ROOT = Path(__file__).resolve().parents[1]


MODEL_FIELDS = ("mode", "encoder", "thinker_trained")


def tiny_config(tiny_lm, out, **kw):
    """A small TrainConfig; ``mode``, ``encoder`` and ``thinker_trained`` go into its model config."""
    model = {"base": str(tiny_lm), **{k: kw.pop(k) for k in MODEL_FIELDS if k in kw}}
    base = dict(
        model=model,
        out=str(out),
        batch_size=4,
        group_size=2,
        lora_r=4,
        lora_alpha=8,
        max_steps=4,
        save_every=2,
        learning_rate=5e-3,
        special_token_learning_rate=5e-2,
        seed=0,
    )
    return TrainConfig(**{**base, **kw})


def adapter_tensors(folder):
    from safetensors.torch import load_file

    tensors = load_file(str(folder / "adapter" / "adapter_model.safetensors"))
    tensors.update({f"special.{k}": v for k, v in load_file(str(folder / "special_tokens.safetensors")).items()})
    return tensors


def test_shared_training_writes_a_loadable_adapter_checkpoint(tiny_lm, tmp_path):
    out = tmp_path / "ckpt"
    summary = train(tiny_config(tiny_lm, out), voted_records(16), progress=False)
    assert summary["total_steps"] == 4 and summary["data"]["without_thought"] == 4
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3, 4] and all(row["loss_r"] > 0 and row["loss_g"] > 0 for row in log)
    assert not (out / "trainer_state.pt").exists()
    base = ThinkThenEmbed.from_pretrained(tiny_lm, device="cpu", cache=False)
    trained = ThinkThenEmbed.from_pretrained(out, device="cpu", cache=False)
    assert trained.config.thinker_trained and trained.fingerprint != base.fingerprint
    emb = trained.thinker.lm.emb_id
    rows = lambda m: m.thinker.lm.model.get_input_embeddings().weight[emb]  # noqa: E731
    assert not torch.allclose(rows(trained), rows(base))  # the special-token rows were trained
    vectors = trained.embed_queries(["cell gene"], n_thoughts=1, max_new_tokens=4).vectors
    assert np.isclose(np.linalg.norm(vectors), 1, atol=1e-5)
    assert sum(f.stat().st_size for f in out.rglob("*") if f.is_file()) < 2_000_000  # adapter-sized


def test_held_out_dev_queries_are_never_trained_on(tiny_lm, tmp_path):
    folder = tmp_path / "mini"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text(json.dumps({"_id": "d0", "text": "a document"}) + "\n")
    queries = [json.dumps({"_id": f"q{i}", "text": f"q {i}"}) + "\n" for i in range(16)]
    (folder / "queries.jsonl").write_text("".join(queries))
    judged = "".join(f"q{i}\td0\t1\n" for i in range(16))
    (folder / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + judged)
    rows = [{**r, "query_id": f"q{i}", "source": "mini/train"} for i, r in enumerate(voted_records(16))]
    rows[0]["source"] = "other/train"  # the same id in another set is not a dev query
    config = tiny_config(tiny_lm, tmp_path / "ckpt", max_steps=1, hold_out=[str(folder)], dev_queries=4)
    summary = train(config, rows, progress=False)
    assert summary["data"]["records"] == 13  # q1-q3 held out; q0 is another set's
    assert json.loads((tmp_path / "ckpt" / "train_config.json").read_text())["hold_out"] == [str(folder)]
    thoughts = tmp_path / "thoughts.jsonl"  # the recipe's thoughts are applied by train itself, not only the CLI
    thoughts.write_text(json.dumps({"query": rows[0]["query"], "thoughts": ["only the first has one"]}) + "\n")
    with pytest.raises(DataError, match="no thoughts for the query of record 'q1'"):
        train(tiny_config(tiny_lm, tmp_path / "ckpt2", max_steps=1, thoughts=str(thoughts)), rows, progress=False)


def test_periodic_evaluation_and_gradient_checkpointing(tiny_lm, tmp_path):
    """The nDCG@10 logged during training is that of the model as it is then: here, after the last step, the
    nDCG@10 of the checkpoint it writes, evaluated the same way."""
    from o1_retriever.evaluation.benchmark import load_benchmark
    from o1_retriever.evaluation.systems import run_systems
    from o1_retriever.evaluation.reports import summarise
    from tests.tiny_models import WORDS

    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text(
        "".join(json.dumps({"_id": f"d{i}", "text": f"{w} study"}) + "\n" for i, w in enumerate(WORDS))
    )
    (beir / "queries.jsonl").write_text(
        "".join(json.dumps({"_id": f"q{i}", "text": w}) + "\n" for i, w in enumerate(WORDS[:4]))
    )
    (beir / "qrels" / "test.tsv").write_text("q\td\ts\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(4)))
    config = tiny_config(
        tiny_lm, tmp_path / "c", max_steps=2, eval_data=str(beir), eval_every=2, gradient_checkpointing=True
    )
    summary = train(config, voted_records(8), progress=False)
    log = [json.loads(line) for line in (tmp_path / "c" / "train_log.jsonl").read_text().splitlines()]
    assert [row["eval_ndcg10"] for row in log if "eval_ndcg10" in row] == [summary["eval_ndcg10"]]
    bench = load_benchmark(beir, "test", max_queries=config.eval_max_queries)
    saved = ThinkThenEmbed.from_pretrained(tmp_path / "c", device="cpu", cache=False)
    results = run_systems(bench, saved, ("o1",), {"n_thoughts": 1, "max_new_tokens": 32}, cache_corpus=False)
    assert summary["eval_ndcg10"] == pytest.approx(summarise(bench, results)["systems"]["o1"]["metrics"]["nDCG@10"])


@pytest.mark.parametrize("objective, weight", [("loss_g", 0.0), ("loss_r", 1.0)])
def test_training_lowers_each_loss(objective, weight, tiny_lm, tmp_path):
    """Each objective alone is learned: behaviour cloning (λ = 0) lowers the LM loss of the thoughts, contrastive
    learning (λ = 1) the InfoNCE loss. (Jointly, on this random 32-wide model, the contrastive loss dominates.)"""
    config = tiny_config(
        tiny_lm,
        tmp_path / "c",
        max_steps=24,
        batch_size=8,
        thought_dropout=0.0,
        learning_rate=2e-2,
        special_token_learning_rate=5e-3,
        lambda_contrastive=weight,
    )
    train(config, voted_records(16), progress=False)
    log = [json.loads(line) for line in (tmp_path / "c" / "train_log.jsonl").read_text().splitlines()]
    first, last = log[:3], log[-3:]
    mean = lambda rows: sum(r[objective] for r in rows) / len(rows)  # noqa: E731
    assert mean(last) < 0.95 * mean(first)


def test_resumed_run_matches_uninterrupted(tiny_lm, tmp_path):
    records = voted_records(16)
    train(tiny_config(tiny_lm, tmp_path / "straight", lora_dropout=0.1), records, progress=False)
    stopped = train(tiny_config(tiny_lm, tmp_path / "resumed", lora_dropout=0.1), records, stop_after=3, progress=False)
    assert stopped["stopped_at"] == 3 and (tmp_path / "resumed" / "trainer_state.pt").exists()
    with pytest.raises(RunExistsError, match="--resume"):
        train(tiny_config(tiny_lm, tmp_path / "resumed"), records, progress=False)
    with pytest.raises(RunExistsError, match="other settings"):
        train(
            tiny_config(tiny_lm, tmp_path / "resumed", seed=5, lora_dropout=0.1), records, resume=True, progress=False
        )
    train(tiny_config(tiny_lm, tmp_path / "resumed", lora_dropout=0.1), records, resume=True, progress=False)
    a, b = adapter_tensors(tmp_path / "straight"), adapter_tensors(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for name in a:
        assert torch.allclose(a[name], b[name], atol=1e-6), name


def test_split_mode_trains_thinker_and_encoder(tiny_lm, tiny_encoder, tmp_path):
    out = tmp_path / "split"
    config = tiny_config(
        tiny_lm,
        out,
        mode="split",
        encoder=str(tiny_encoder),
        thinker_trained=True,
        encoder_lora_targets=["query", "value"],
    )
    train(config, voted_records(16), progress=False)
    assert (out / "encoder_adapter" / "adapter_model.safetensors").exists()
    model = ThinkThenEmbed.from_pretrained(out, device="cpu", cache=False)
    assert model.config.mode == "split" and model.config.thinker_trained
    untrained = ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(tiny_encoder), device="cpu", cache=False)
    assert model.document_fingerprint != untrained.document_fingerprint
    assert model.embed_queries(["cell gene"], n_thoughts=2, max_new_tokens=3).vectors.shape == (1, 24)


def test_split_mode_can_train_the_encoder_alone(tiny_lm, tiny_encoder, tmp_path):
    out = tmp_path / "encoder-only"
    config = tiny_config(
        tiny_lm, out, mode="split", encoder=str(tiny_encoder), encoder_lora_targets=["query"], thinker_trained=False
    )
    train(config, voted_records(16), progress=False)
    assert (out / "encoder_adapter").is_dir() and not (out / "adapter").exists()
    model = ThinkThenEmbed.from_pretrained(out, device="cpu", cache=False)
    untrained = ThinkThenEmbed.from_pretrained(tiny_lm, encoder=str(tiny_encoder), device="cpu", cache=False)
    assert not model.config.thinker_trained
    settings = dict(n=2, max_new_tokens=4, seed=3)
    assert model.think(["cell gene"], **settings) == untrained.think(["cell gene"], **settings)  # thinker untouched
    assert model.document_fingerprint != untrained.document_fingerprint  # the encoder learned
    with pytest.raises(ValueError, match="split mode"):
        TrainConfig(model={"thinker_trained": False})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tiny_lm, tmp_path):
    data = write_records(tmp_path / "voted.jsonl", voted_records(16))
    script = str(ROOT / "tests" / "dist_step.py")
    env_args = [str(tiny_lm), str(data)]
    subprocess.run([sys.executable, script, *env_args, str(tmp_path / "one.pt")], check=True, cwd=ROOT)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            script,
            *env_args,
            str(tmp_path / "two.pt"),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    one, two = torch.load(tmp_path / "one.pt"), torch.load(tmp_path / "two.pt")
    assert one["tokens"] == two["tokens"] > 0
    assert one["loss_r"] == pytest.approx(two["loss_r"], rel=1e-5)
    assert one["loss_g"] == pytest.approx(two["loss_g"], rel=1e-5)
    assert one["grads"].keys() == two["grads"].keys()
    for name, grad in one["grads"].items():
        assert torch.allclose(grad, two["grads"][name], atol=1e-6, rtol=1e-4), name


def test_train_command(tiny_lm, tiny_encoder, tmp_path):
    data = write_records(tmp_path / "voted.jsonl", voted_records(8))
    config = tmp_path / "train.yaml"
    config.write_text(
        f"model: {{base: {tiny_lm}}}\nbatch_size: 4\ngroup_size: 2\nlora_r: 2\nlora_alpha: 4\nmax_steps: 2\n"
    )
    out = tmp_path / "ckpt"
    runner = CliRunner()
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "trained 2 steps" in result.stdout and (out / "o1_config.json").exists()
    again = runner.invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(out)])
    assert again.exit_code == 2 and "--overwrite" in again.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("learning_rat: 1\n")
    assert "unknown settings" in runner.invoke(app, ["train", "--config", str(bad), "--data", str(data)]).output
    # --set overrides any field, the model's too; the checkpoint's config is what training was given
    other = tmp_path / "ckpt2"
    sets = ["--set", "model.max_document_tokens=48", "--set", "model.thinking.n_thoughts=2", "--set", "max_steps=1"]
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(other), *sets])
    assert result.exit_code == 0, result.output
    written = json.loads((other / "o1_config.json").read_text())
    assert written["max_document_tokens"] == 48 and written["thinking"]["n_thoughts"] == 2
    assert json.loads((other / "train_config.json").read_text())["model"] == {
        k: v for k, v in written.items() if k != "format_version"
    }
    # a recipe that serves with an int8 thinker trains with the fp32 one and saves the int8 setting
    int8 = tmp_path / "ckpt-int8"
    sets = ["--set", "model.mode=split", "--set", f"model.encoder={tiny_encoder}", "--set", "max_steps=1"]
    sets += ["--set", "model.thinker_trained=false", "--set", "model.thinker_precision=int8"]
    result = runner.invoke(app, ["train", "--config", str(config), "--data", str(data), "--out", str(int8), *sets])
    assert result.exit_code == 0, result.output
    assert json.loads((int8 / "o1_config.json").read_text())["thinker_precision"] == "int8"
    typo = runner.invoke(app, ["train", "--data", str(data), "--set", "model.max_doc_tokens=3"])
    assert typo.exit_code == 2 and "unknown model config keys" in typo.output
    # --thoughts: every record must have its thinker's thoughts, and the run records the file
    thoughts = tmp_path / "thoughts.jsonl"
    thoughts.write_text(json.dumps({"query": voted_records(1)[0]["query"], "thoughts": ["only the first has one"]}))
    missing = runner.invoke(app, ["train", "--config", str(config), "--data", str(data), "--thoughts", str(thoughts)])
    assert missing.exit_code == 2 and "no thoughts for the query of record" in missing.output
