"""``adapt``: a checkpoint adapted to a corpus without judged queries — the pipeline end to end on tiny random models,
resuming, refusals, bad input, and the pure rules of each stage."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from o1_retriever import ChromaIndex, ThinkThenEmbed
from o1_retriever.cli import app
from o1_retriever.data import DataError, Document
from o1_retriever.model.thinkers import Thoughts
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.trainer.adapt import AdaptConfig, AdaptError, adapt
from o1_retriever.trainer.adapt import check, pairs, passages, questions
from o1_retriever.trainer.records import read_finished
from tests.tiny_models import WORDS

runner = CliRunner()
UNGUARDED = Fusion.named("unguarded").settings()


def corpus(n: int, seed: int = 0, words: tuple[str, ...] = WORDS) -> list[Document]:
    """``n`` documents over the tiny vocabulary, each with two words of its own (what a question can find it by)."""
    rng = random.Random(seed)
    return [Document(f"doc{i}", f"topic{i} marker{i} " + " ".join(rng.choices(words, k=14))) for i in range(n)]


def write_corpus(path: Path, documents: list[Document]) -> Path:
    path.write_text("".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text}) + "\n" for d in documents))
    return path


class QuestionWriter:
    """A writer for tests: asks about a passage's own two words; thinks "evidence about <query>"; fails on request."""

    identity = "test-writer"
    embeds = False

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.asked: list[str] = []
        self.fail_after = fail_after

    def think(self, requests, settings):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise RuntimeError("killed")
        out = []
        for request in requests:
            if request.messages:
                self.asked.append(request.query)
                first, second = request.messages[-1]["content"].split()[:2]
                out.append(Thoughts([f"what is known about {first} and {second}?"]))
            else:
                out.append(Thoughts([f"evidence about {request.query} {i}" for i in range(settings.n_thoughts)]))
        return out


@pytest.fixture
def base(split_model, tmp_path):
    """A split checkpoint whose hybrid is unguarded (a tiny random encoder agrees with nothing: the guard would drop
    BM25 and no question would find its passage)."""
    folder = split_model.save_pretrained(tmp_path / "base")
    config = json.loads((folder / "o1_config.json").read_text())
    (folder / "o1_config.json").write_text(json.dumps({**config, "fusion": UNGUARDED}))
    return folder


def settings(tmp_path: Path, base: Path, tiny_encoder, **changes) -> AdaptConfig:
    data = write_corpus(tmp_path / "corpus.jsonl", corpus(90))
    given = dict(
        corpus=str(data),
        out=str(tmp_path / "adapted"),
        model=str(base),
        queries=60,
        min_held_out=8,
        committee=(str(tiny_encoder), "bm25"),
        question_prompt="after",
        distill={"max_epochs": 2, "learning_rate": 1e-2},
    )
    return AdaptConfig(**{**given, **changes})


def test_adapt_end_to_end_serves_the_base_index_and_a_rerun_redoes_nothing(base, tiny_encoder, tmp_path):
    config = settings(tmp_path, base, tiny_encoder)
    with pytest.warns(UserWarning, match="little to go on"):
        report = adapt(config, writer=QuestionWriter(), progress=False)
    out = Path(config.out)
    assert (out / "adapt_report.md").read_text().startswith("# Adapted to")
    assert json.loads((out / "adapt_report.json").read_text())["check"] == report["check"]
    counts = report["counts"]
    assert counts["passages"]["sampled"] == 60 and counts["filter"]["train"] > 20 and counts["filter"]["held_out"] >= 8
    # the held-out questions (drawn before the filter) are never trained on
    (voted,) = (out / "adapt-run").glob("voted-*.jsonl")
    trained = {r["query_id"] for r in read_finished(voted)}
    held = {r["query_id"] for r in read_finished(out / "adapt-run" / "held-out.jsonl")}
    assert len(trained) == counts["filter"]["train"] and len(held) == counts["filter"]["held_out"]
    assert not trained & held
    # a query-side checkpoint: distilled by default, the same document vectors (the base's index serves it)
    base_model, adapted = ThinkThenEmbed.from_pretrained(base), ThinkThenEmbed.from_pretrained(out)
    assert adapted.distilled and adapted.document_fingerprint == base_model.document_fingerprint
    assert adapted.config.fusion == report["check"]["fusion_settings"]
    index = ChromaIndex(base_model, tmp_path / "index")
    index.add_texts(["topic1 marker1 cells", "topic2 marker2 energy"], ids=["a", "b"])
    served = ChromaIndex(adapted, tmp_path / "index")
    assert served.fusion == Fusion.of_checkpoint(adapted.config.fusion)
    assert served.query("what is known about topic2 and marker2?", k=1)[0].id == "b"
    # a rerun of the same command resumes: nothing is asked again
    again = QuestionWriter()
    adapt(config, writer=again, progress=False)
    assert again.asked == []
    assert [r["id"] for r in read_finished(out / "adapt-run" / "questions.jsonl")] == [
        r["id"] for r in read_finished(out / "adapt-run" / "passages.jsonl")
    ]
    smaller = QuestionWriter()  # a smaller budget reads the first rows of the larger one's files
    with pytest.warns(UserWarning):
        report = adapt(replace(config, queries=40), writer=smaller, progress=False)
    assert smaller.calls == 0 and report["counts"]["passages"]["sampled"] == 40


def test_a_run_killed_mid_stage_resumes_and_writes_every_record_once(base, tiny_encoder, tmp_path):
    config = settings(tmp_path, base, tiny_encoder, thoughts=True)
    with pytest.raises(RuntimeError, match="killed"), pytest.warns(UserWarning):
        adapt(config, writer=QuestionWriter(fail_after=3), progress=False)  # 3 batches of questions, then dies
    run = Path(config.out) / "adapt-run"
    assert len(read_finished(run / "questions.jsonl")) == 3 * questions.BATCH
    with (run / "questions.jsonl").open("a") as handle:
        handle.write('{"id": "doc')  # a torn last line, as kill -9 mid-write leaves it
    writer = QuestionWriter(fail_after=2)  # the questions finish, then it dies while thinking
    with pytest.raises(RuntimeError, match="killed"), pytest.warns(UserWarning):
        adapt(config, writer=writer, progress=False)
    assert len(writer.asked) == 60 - 3 * questions.BATCH
    with pytest.warns(UserWarning):
        adapt(config, writer=QuestionWriter(), progress=False)
    for path in (run / "questions.jsonl", *run.glob("thoughts-*.jsonl"), *run.glob("voted-*.jsonl")):
        ids = [r.get("query_id") or r.get("id") for r in read_finished(path)]
        assert len(ids) == len(set(ids)), path.name


class ThinkingCounter(QuestionWriter):
    """Counts the questions it is asked to think about."""

    def __init__(self) -> None:
        super().__init__()
        self.thought_for: list[str] = []

    def think(self, requests, settings):
        self.thought_for += [r.query for r in requests if not r.messages]
        return super().think(requests, settings)


def test_a_larger_budget_that_moves_the_held_out_slice_keeps_each_questions_thoughts_once(base, tiny_encoder, tmp_path):
    # at 60 passages the seeded share holds out fewer than 15 questions and is topped up; at 90 it is not: questions
    # held out at 60 train at 90, so the training questions are no longer a prefix of the larger budget's
    config = settings(tmp_path, base, tiny_encoder, queries=60, min_held_out=15)
    once = [{"query_id": f"doc{i}"} for i in range(60)]
    more = once + [{"query_id": f"doc{i}"} for i in range(60, 90)]
    small_train, _ = check.split_held_out(once, config.held_out_share, 15, config.seed)
    large_train, _ = check.split_held_out(more, config.held_out_share, 15, config.seed)
    assert [r["query_id"] for r in large_train[: len(small_train)]] != [r["query_id"] for r in small_train]
    first = ThinkingCounter()
    with pytest.warns(UserWarning):
        adapt(config, writer=first, progress=False)
    second = ThinkingCounter()
    with pytest.warns(UserWarning):
        report = adapt(replace(config, queries=90), writer=second, progress=False)
    assert not set(first.thought_for) & set(second.thought_for)  # nothing thought twice
    run = Path(config.out) / "adapt-run"
    (thoughts,) = run.glob("thoughts-*.jsonl")
    rows = read_finished(thoughts)
    assert len(rows) == len({r["query_id"] for r in rows}) == report["counts"]["filter"]["train"]
    held = {r["query_id"] for r in read_finished(run / "held-out.jsonl")}
    assert not held & {r["query_id"] for r in rows}


def test_refusals_a_small_corpus_another_run_and_overwrite(base, tiny_encoder, tmp_path):
    small = settings(tmp_path, base, tiny_encoder, corpus=str(write_corpus(tmp_path / "small.jsonl", corpus(20))))
    with pytest.raises(AdaptError, match="20 usable passages.*at least 50"):
        adapt(small, writer=QuestionWriter(), progress=False)
    config = settings(tmp_path, base, tiny_encoder, thoughts=False)
    with pytest.warns(UserWarning):
        adapt(config, writer=QuestionWriter(), progress=False)
    other = replace(config, corpus=str(write_corpus(tmp_path / "other.jsonl", corpus(90, seed=1))))
    with pytest.raises(AdaptError, match="another corpus or other settings.*--overwrite"), pytest.warns(UserWarning):
        adapt(other, writer=QuestionWriter(), progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(AdaptError, match="not empty"), pytest.warns(UserWarning):
        adapt(replace(other, out=str(tmp_path / "busy")), writer=QuestionWriter(), progress=False)
    writer = QuestionWriter()
    with pytest.warns(UserWarning):
        adapt(other, writer=writer, overwrite=True, progress=False)
    assert len(writer.asked) == 60


def test_a_base_whose_fusion_is_no_candidate_is_checked_with_its_own(base, tiny_encoder, tmp_path):
    own = {**UNGUARDED, "method": "rrf", "rrf_k": 30}
    config_file = base / "o1_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "fusion": own}))
    with pytest.warns(UserWarning):
        report = adapt(settings(tmp_path, base, tiny_encoder, thoughts=False), writer=QuestionWriter(), progress=False)
    assert report["check"]["base"]["fusion"] == "the base's" and "the base's" in report["check"]["fusions"]


def test_a_non_english_corpus_warns_that_the_built_in_writer_is_english_only(base, tiny_encoder, tmp_path):
    cyrillic = tuple("клетка белок ген рак риск пациент кровь мозг лечение болезнь".split())
    config = settings(
        tmp_path, base, tiny_encoder, corpus=str(write_corpus(tmp_path / "ru.jsonl", corpus(30, words=cyrillic)))
    )
    with pytest.warns(UserWarning, match="English only"), pytest.raises(AdaptError):
        adapt(config, progress=False)


class PlacementWriter(QuestionWriter):
    """Asks a real question only when the instruction comes first (as a small writer does on some corpora)."""

    def think(self, requests, settings):
        out = []
        for request in requests:
            content = request.messages[-1]["content"]
            if content.startswith("Write"):
                first, second = content.split("Text: ")[1].split()[:2]
                out.append(Thoughts([f"how are {first} and {second} related?"]))
            else:
                out.append(Thoughts(["What is the question?"]))
        return out


def test_auto_prompt_keeps_the_prompt_that_yields_questions_and_the_run_remembers_it(base, tiny_encoder, tmp_path):
    rows = [{"id": d.id, "text": d.text} for d in corpus(10)]
    assert questions.choose_prompt(rows, PlacementWriter(), questions.QuestionSettings()) == {
        "after": 0,
        "before": 10,
        "own-words": 0,
    }
    config = settings(tmp_path, base, tiny_encoder, question_prompt="auto", thoughts=False)
    with pytest.warns(UserWarning):
        report = adapt(config, writer=PlacementWriter(), progress=False)
    run = json.loads((Path(config.out) / "adapt-run" / "run.json").read_text())
    assert run["question_prompt"]["chosen"] == "before" and report["counts"]["questions"]["written"] == 60
    assert "instruction before the passage" in (Path(config.out) / "adapt_report.md").read_text()


def test_a_prompt_given_by_name_is_the_one_the_report_names(base, tiny_encoder, tmp_path):
    config = settings(tmp_path, base, tiny_encoder, question_prompt="before", thoughts=False)
    with pytest.warns(UserWarning):
        adapt(config, writer=PlacementWriter(), progress=False)
    run = json.loads((Path(config.out) / "adapt-run" / "run.json").read_text())
    assert run["question_prompt"] == {"chosen": "before", "usable": None}
    assert "instruction before the passage" in (Path(config.out) / "adapt_report.md").read_text()


def test_the_preferred_prompt_is_the_most_usable_and_the_earlier_on_a_tie():
    assert questions.preferred_prompt({"after": 3, "before": 9, "own-words": 12}) == "own-words"
    assert questions.preferred_prompt({"after": 5, "before": 5, "own-words": 5}) == "after"
    assert questions.preferred_prompt({"after": 0, "before": 4, "own-words": 4}) == "before"


def test_a_run_that_chose_between_two_placements_resumes_with_its_choice(base, tiny_encoder, tmp_path):
    config = settings(tmp_path, base, tiny_encoder, question_prompt="auto", thoughts=False, queries=50)
    with pytest.warns(UserWarning):
        adapt(config, writer=PlacementWriter(), progress=False)
    saved = Path(config.out) / "adapt-run" / "run.json"
    run = json.loads(saved.read_text())
    run["placement"] = run.pop("question_prompt")  # as an earlier version recorded it
    saved.write_text(json.dumps(run))
    with pytest.warns(UserWarning):
        report = adapt(config, writer=QuestionWriter(fail_after=0), progress=False)  # asks nothing
    run = json.loads(saved.read_text())
    assert "placement" not in run and run["question_prompt"]["chosen"] == "before"
    assert report["counts"]["questions"]["written"] == 50


def test_a_time_budget_stops_the_questions_between_batches_keeping_what_is_written(tmp_path):
    import time

    rows = [{"id": d.id, "text": d.text} for d in corpus(40)]
    out = tmp_path / "questions.jsonl"
    written = questions.write_questions(
        rows, QuestionWriter(), out, questions.QuestionSettings(), progress=False, deadline=time.monotonic() - 1
    )
    assert written == [] and read_finished(out) == []
    resumed = questions.write_questions(rows, QuestionWriter(), out, questions.QuestionSettings(), progress=False)
    assert [r["id"] for r in resumed] == [r["id"] for r in rows]


def test_a_failing_writer_endpoint_stops_the_stage_naming_it_and_keeps_the_questions(tmp_path):
    from o1_retriever.model.thinkers.openai import OpenAIThinker

    rows = [{"id": d.id, "text": d.text} for d in corpus(12)]
    out = tmp_path / "questions.jsonl"
    asked = questions.write_questions(rows[:8], QuestionWriter(), out, questions.QuestionSettings(), progress=False)
    dead = OpenAIThinker("http://127.0.0.1:9/v1", "writer", max_retries=0, timeout=1)  # nothing listens on port 9
    with pytest.raises(questions.WriterError, match=r"127\.0\.0\.1:9"):
        questions.write_questions(rows, dead, out, questions.QuestionSettings(), progress=False)
    assert read_finished(out) == asked


def test_the_cli_reports_one_error_line_and_require_gain_exits_non_zero(base, tmp_path, monkeypatch):
    data = write_corpus(tmp_path / "c.jsonl", corpus(10))
    result = runner.invoke(app, ["adapt", str(data), "--out", str(tmp_path / "a"), "--model", str(base)])
    assert result.exit_code == 2 and "error: " in result.output and "at least 50" in result.output
    assert "rerun the same command" not in result.output  # a refusal: rerunning it would be refused again
    bad = tmp_path / "examples.jsonl"
    bad.write_text('{"query": "how?"}\n{oops\n')
    result = runner.invoke(app, ["adapt", str(data), "--out", str(tmp_path / "a"), "--examples", str(bad)])
    assert result.exit_code == 2 and "examples.jsonl:2: malformed JSON" in result.output

    import o1_retriever.trainer.adapt as package

    check_result = {
        "base": {"nDCG@10": 0.5},
        "adapted": {"nDCG@10": 0.49, "fusion": "guarded"},
        "p": 0.5,
        "gain_nDCG@10": -0.01,
        "held_out": 50,
    }
    monkeypatch.setattr(package, "adapt", lambda config, overwrite=False: {"check": check_result})
    result = runner.invoke(app, ["adapt", str(data), "--out", str(tmp_path / "a"), "--require-gain"])
    assert result.exit_code == 1 and "does not beat its base" in result.output
    check_result.update({"gain_nDCG@10": 0.1, "held_out": 5})  # a gain on 5 questions is no evidence
    result = runner.invoke(app, ["adapt", str(data), "--out", str(tmp_path / "a"), "--require-gain"])
    assert result.exit_code == 1
    from o1_retriever.trainer.adapt.report import verdict

    assert "too few to tell" in verdict(check_result)
    check_result.update({"held_out": 50})  # a gain on 50: the run succeeds
    result = runner.invoke(app, ["adapt", str(data), "--out", str(tmp_path / "a")])
    assert result.exit_code == 0


def test_passages_skip_empty_short_and_near_duplicate_documents_and_a_sample_extends():
    docs = corpus(30) + [Document("e", "   "), Document("s", "too short"), Document("dup", corpus(1)[0].text)]
    usable, dropped = passages.eligible(docs)
    assert dropped == {"empty": 1, "too short": 1, "near-duplicate": 1} and len(usable) == 30
    assert passages.sample(usable, 20, seed=0)[:10] == passages.sample(usable, 10, seed=0)
    assert passages.sample(usable, 10, seed=0) != passages.sample(usable, 10, seed=1)


def test_questions_are_cleaned_and_copies_dropped():
    assert questions.clean_question('Question: "How does A20 affect glioma?" It does.') == (
        "How does A20 affect glioma?",
        None,
    )
    assert questions.clean_question("What is the answer to the question: what")[1] == "generic"
    assert questions.clean_question("What is the text about?")[1] == "generic"
    assert questions.clean_question("The text provides a detailed answer.")[1] == "generic"
    assert questions.clean_question("Metformin lowers glucose in the liver.")[1] == "not a question"
    assert questions.clean_question("What a fascinating topic. Can aromatherapy reduce nausea?") == (
        "Can aromatherapy reduce nausea?",
        None,
    )
    assert questions.clean_question("How does metformin lower glucose") == ("How does metformin lower glucose", None)
    assert questions.clean_question("Why?")[1] == "too short"
    assert questions.clean_question("\n\nwhat " + "word " * 50 + "?")[1] == "too long"
    passage = "the drug lowers blood glucose mainly by reducing glucose production in the liver of patients"
    assert (
        questions.copies_passage(
            "does the drug lower blood glucose by cutting glucose production in the liver?", passage
        )
        is False
    )
    assert questions.copies_passage("why is it reducing glucose production in the liver of patients?", passage) is True


def test_round_trip_and_negatives_rules():
    fused = {"a": 3.0, "src": 2.0, "b": 1.5, "c": 1.0, "d": 0.5}
    assert pairs.keep_or_drop("src", fused, depth=2) == (2, None)
    assert pairs.keep_or_drop("src", fused, depth=1) == (2, "passage not in the top 1")
    assert pairs.keep_or_drop("zzz", fused, depth=5)[1] == "passage not in the top 5"
    cosine = {"src": 0.8, "a": 0.9, "b": 0.78, "c": 0.5, "d": 0.4}
    rules = pairs.PairRules(filter_depth=2, negatives=2, negative_depth=5, negative_margin=0.05)
    # "a" ranks above the source and "b" is within the margin of its cosine: both may be unjudged positives
    assert pairs.negatives_for("src", 2, fused, cosine, rules) == ["c", "d"]


def test_the_held_out_slice_is_stable_across_budgets_and_the_fusion_moves_only_on_evidence():
    records = [{"query_id": f"q{i}"} for i in range(200)]
    _, held = check.split_held_out(records, 0.2, 10, seed=0)
    _, held_more = check.split_held_out(records + [{"query_id": f"x{i}"} for i in range(100)], 0.2, 10, seed=0)
    assert {r["query_id"] for r in held} <= {r["query_id"] for r in held_more} and 20 < len(held) < 60
    ids = [f"q{i}" for i in range(100)]
    flat = {"nDCG@10": {q: 0.5 for q in ids}}
    better = {"nDCG@10": {q: 0.5 + 0.1 * (i % 2) for i, q in enumerate(ids)}}  # +0.05 on average, every other query
    noisy = {"nDCG@10": {q: 1.0 if i == 0 else 0.5 for i, q in enumerate(ids)}}  # +0.005 from one query
    assert check.choose_fusion({"guarded": flat, "rrf": better}, "guarded", margin=0.01) == "rrf"
    assert check.choose_fusion({"guarded": flat, "rrf": noisy}, "guarded", margin=0.001) == "guarded"
    assert check.choose_fusion({"guarded": flat, "rrf": better}, "guarded", margin=0.1) == "guarded"


def test_a_checkpoint_fusion_is_the_index_default_and_a_bad_one_is_refused(split_model, tmp_path):
    assert ChromaIndex(split_model, tmp_path / "i").fusion == Fusion()
    split_model.config = replace(split_model.config, fusion=UNGUARDED)
    assert ChromaIndex(split_model, tmp_path / "i").fusion == Fusion.named("unguarded")
    assert ChromaIndex(split_model, tmp_path / "i", fusion="rrf").fusion == Fusion.rrf()
    with pytest.raises(ValueError, match="not a Fusion"):
        Fusion.of_checkpoint({"weight": 1})
    with pytest.raises(DataError, match="no such file"):
        from o1_retriever.cli.adapt_command import read_examples

        read_examples(tmp_path / "missing.txt")


def test_each_question_prompt_shows_the_passage_and_its_instruction_and_an_unknown_one_is_refused():
    from o1_retriever.model import prompts

    passage = "Vitamin D deficiency is common in multiple sclerosis patients."
    contents = {
        p: prompts.question_messages(passage, ("how common is x?",), p)[0]["content"] for p in prompts.QUESTION_PROMPTS
    }
    assert contents["after"].startswith(passage) and contents["after"].index(prompts.QUESTION_INSTRUCTION) > 0
    assert contents["before"].startswith(prompts.QUESTION_INSTRUCTION_FIRST) and contents["before"].endswith(passage)
    assert contents["own-words"].startswith(passage) and "in their own words" in contents["own-words"]
    assert all("- how common is x?" in c for c in contents.values())
    with pytest.raises(ValueError, match="own-words"):
        prompts.question_messages(passage, (), "sideways")
    with pytest.raises(ValueError, match="question_prompt"):
        AdaptConfig(corpus="c", out="o", question_prompt="sideways")
