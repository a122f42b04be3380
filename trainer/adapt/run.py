"""``adapt``: a checkpoint adapted to a corpus without judged queries — passages → questions → round-trip filter →
negatives → thoughts and the committee's vote → a distilled query encoder → the label-free check and the fusion's
calibration. Each stage keeps its finished work in ``out/adapt-run/``; rerunning the same command resumes.

The query side only is trained (``encoding="distilled"``): documents keep the base checkpoint's encoder, so an index
it built serves the adapted checkpoint unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import warnings
from dataclasses import replace
from pathlib import Path

from o1_retriever.data import load_corpus, split_into_passages
from o1_retriever.evaluation.benchmark import corpus_hash
from o1_retriever.model.checkpoint import write_config
from o1_retriever.model.think_then_embed import ThinkThenEmbed
from o1_retriever.model.thinkers import Thinker
from o1_retriever.retrieval.fusion import Fusion
from o1_retriever.trainer.adapt import check, passages, questions
from o1_retriever.trainer.adapt.config import FEW_PASSAGES, MIN_PASSAGES, AdaptConfig
from o1_retriever.trainer.adapt.pairs import CorpusSearch, PairRules, build_pairs, usable_questions
from o1_retriever.trainer.adapt.report import write_report
from o1_retriever.trainer.records import as_records, read_finished, write_jsonl_atomic

logger = logging.getLogger(__name__)
RUN_DIR = "adapt-run"
PROMPT_PROBE = 24  # passages each question prompt is tried on


class AdaptError(RuntimeError):
    """The run cannot go on (a corpus too small, an ``--out`` holding another run); the message says what to do."""


class Run:
    """The run folder: its identity, each stage's files and the time each stage has taken over every session."""

    def __init__(self, config: AdaptConfig, corpus_digest: str, overwrite: bool) -> None:
        self.out = Path(config.out)
        self.folder = self.out / RUN_DIR
        identity = json.loads(json.dumps({"corpus": corpus_digest, **config.run_identity()}))  # tuples as lists
        saved = self.folder / "run.json"
        if overwrite and self.out.exists():
            shutil.rmtree(self.out)
        if saved.exists():
            if json.loads(saved.read_text())["identity"] != identity:
                raise AdaptError(
                    f"{self.out} holds an adapt run of another corpus or other settings: choose another --out, or "
                    "pass --overwrite to start again"
                )
            self.state = json.loads(saved.read_text())
        elif self.out.exists() and any(self.out.iterdir()):
            raise AdaptError(f"{self.out} is not empty and holds no adapt run: choose another --out, or --overwrite")
        else:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.state = {"identity": identity, "seconds": {}, "counts": {}}
            self.save()

    def path(self, name: str) -> Path:
        return self.folder / name

    def save(self) -> None:
        tmp = self.folder / "run.json.tmp"
        tmp.write_text(json.dumps(self.state, indent=2) + "\n")
        tmp.replace(self.folder / "run.json")

    def timed(self, stage: str, began: float, **counts) -> None:
        self.state["seconds"][stage] = self.state["seconds"].get(stage, 0.0) + time.perf_counter() - began
        if counts:
            self.state["counts"][stage] = counts
        self.save()


def corpus_passages(config: AdaptConfig) -> list:
    documents = load_corpus(config.corpus)
    if config.passage_words:
        documents = split_into_passages(documents, config.passage_words, config.passage_overlap)
    return documents


def adapt(
    config: AdaptConfig, *, writer: Thinker | None = None, overwrite: bool = False, progress: bool = True
) -> dict:
    """Run (or resume) every stage; the adapted checkpoint is ``config.out``. ``writer``: any ``Thinker`` (a
    ``LangChainThinker``, ``LlamaIndexThinker``, ``OpenAIThinker``...) in place of the one ``config`` names. Returns the
    report (also written there as ``adapt_report.json`` and ``adapt_report.md``)."""
    from o1_retriever.model.thinkers import build_thinker

    started = time.monotonic()
    deadline = None if config.minutes is None else started + 60 * config.minutes
    documents = corpus_passages(config)
    usable, dropped = passages.eligible(documents)
    if writer is None and config.writer == "local" and passages.english_share(usable) < 0.8:
        warnings.warn(
            "the corpus looks mostly non-English: the built-in writer (SmolLM2) writes English only; "
            "pass --writer openai with a multilingual model",
            stacklevel=2,
        )
    if len(usable) < MIN_PASSAGES:
        raise AdaptError(
            f"{config.corpus}: {len(usable)} usable passages (of {len(documents)}; {dropped}); adapting needs at "
            f"least {MIN_PASSAGES}: too few questions would survive the filter to train on"
        )
    if min(len(usable), config.queries) < FEW_PASSAGES:
        warnings.warn(
            f"{min(len(usable), config.queries)} passages: the label-free check will have little to go on", stacklevel=2
        )
    run = Run(config, corpus_hash(documents), overwrite)

    # a. passages
    began = time.perf_counter()
    chosen = passages.sample(usable, config.queries, config.seed)
    rows = [{"id": d.id, "text": passages.passage_text(d)} for d in chosen]
    write_jsonl_atomic(run.path("passages.jsonl"), rows)
    run.timed("passages", began, corpus=len(documents), usable=len(usable), sampled=len(rows), **dropped)

    # b. questions
    base = ThinkThenEmbed.from_pretrained(config.model)
    if base.config.mode != "split":
        raise AdaptError(f"{config.model} is a {base.config.mode}-mode model: adapt distils a split-mode checkpoint")
    if writer is None:
        writer = build_thinker(
            config.writer,
            config.writer_model,
            base_url=config.base_url,
            api_key_env=config.api_key_env,
            concurrency=config.concurrency,
            timeout=config.timeout,
            precision=config.writer_precision if config.writer == "local" else None,
        )
    began = time.perf_counter()
    settings = questions.QuestionSettings.of_run(config)
    if "placement" in run.state:  # a run begun when auto chose between two placements
        run.state["question_prompt"] = run.state.pop("placement")
    if "question_prompt" not in run.state:  # chosen once per run and kept with it (the report names it)
        if config.question_prompt != "auto":
            run.state["question_prompt"] = {"chosen": config.question_prompt, "usable": None}
        elif run.path("questions.jsonl").exists():  # a run begun before the probe wrote with "after"
            run.state["question_prompt"] = {"chosen": "after", "usable": None}
        else:  # auto: the prompt that yields the most usable questions on the first passages
            probe = questions.choose_prompt(rows[:PROMPT_PROBE], writer, settings)
            run.state["question_prompt"] = {"chosen": questions.preferred_prompt(probe), "usable": probe}
        run.save()
    settings = replace(settings, prompt=run.state["question_prompt"]["chosen"])

    asked = questions.write_questions(
        rows, writer, run.path("questions.jsonl"), settings, deadline=deadline, progress=progress
    )
    run.timed("questions", began, asked=len(asked), written=sum(1 for r in asked if r.get("question")))

    # c, d. filter and negatives
    began = time.perf_counter()
    search = CorpusSearch(base, documents)
    rules = PairRules(config.filter_depth, config.negatives, config.negative_depth, config.negative_margin)
    # the held-out slice is drawn before the filter: filtered by the base retriever, it would favour the base
    once, why = usable_questions(asked)
    once = [{"query_id": r["id"], "query": r["question"], "passage_id": r["id"]} for r in once]
    train_questions, held = check.split_held_out(once, config.held_out_share, config.min_held_out, config.seed)
    records, filtered = build_pairs(
        train_questions, search, rules, base.default_encoding, Fusion.of_checkpoint(base.config.fusion)
    )
    why.update(filtered)
    if not records:
        raise AdaptError(f"no question survived the filter ({why}): a stronger writer (--writer openai) may help")
    write_jsonl_atomic(run.path("pairs.jsonl"), records)
    write_jsonl_atomic(run.path("held-out.jsonl"), held)
    run.timed(
        "filter",
        began,
        questions=len(asked),
        held_out=len(held),
        train=len(records),
        dropped=why,
        negatives=sum(len(r["neg"]) for r in records),
    )

    # e. thoughts and the vote
    voted = thoughts_stage(run, config, records, writer, deadline, progress) if config.thoughts else records

    # f. the distilled query encoder
    began = time.perf_counter()
    distill_summary = distill_stage(run, config, voted, progress)
    run.timed(
        "distill",
        began,
        epochs=distill_summary["best_epoch"],
        records=distill_summary["records"],
        with_thought=distill_summary["with_thought"],
    )

    # g. the label-free check and the fusion
    began = time.perf_counter()
    adapted = ThinkThenEmbed.from_pretrained(config.out)
    result = check.label_free_check(search, base, adapted, held, config.calibration_margin)
    write_config(Path(config.out), replace(adapted.config, fusion=result["fusion_settings"]))
    run.timed("check", began, held_out=len(held))
    return write_report(Path(config.out), config, run.state, result)


def thoughts_stage(run: Run, config: AdaptConfig, train: list[dict], writer, deadline, progress: bool) -> list:
    """The writer thinks for the training questions (as far as the time budget reaches: a question without
    thoughts trains as an anchor) and the committee keeps one thought each."""
    from o1_retriever.trainer.committee import build_members, vote
    from o1_retriever.trainer.synthesize import SynthesisConfig, synthesize

    began = time.perf_counter()
    synthesis = SynthesisConfig(
        m=config.thoughts_per_query,
        shots=0,
        seed=config.seed,
        batch_size=8,
        max_new_tokens=config.thought_tokens,
        temperature=0.7,
        top_p=0.9,
    )
    key = config.thoughts_key()
    out = run.path(f"thoughts-{key}.jsonl")
    order, done = thoughts_first(train, out)
    step = 64 if deadline is not None else len(order)  # with a time budget, the budget is checked between chunks
    while done < len(order) and (deadline is None or time.monotonic() < deadline):
        done = min(len(order), done + step)
        synthesize(order[:done], writer, out, synthesis, progress=progress)
    written = {row["query_id"]: row for row in read_finished(out)}
    records = as_records([written.get(r["query_id"], r) for r in train])  # without thoughts: trains as an anchor
    voted, summary = vote(records, build_members(list(config.committee), records), progress=progress)
    write_jsonl_atomic(run.path(f"voted-{key}.jsonl"), [r.to_dict() for r in voted])
    run.timed("thoughts", began, thought=len(written), voted=summary.voted, without=summary.skipped)
    return [r.to_dict() for r in voted]


def thoughts_first(train: list[dict], out: Path) -> tuple[list[dict], int]:
    """The training questions in the order the thoughts file is written in — those it holds thoughts for first (each
    once, in its order), then the rest — and how many it holds thoughts for. When the questions changed since it was
    written — another budget moved the held-out slice, so questions joined or left the training set — the file is
    rewritten with the current questions' rows only, so each question's thoughts are kept and none is written twice."""
    finished = read_finished(out)
    wanted = {r["query_id"] for r in train}
    kept, seen = [], set()
    for row in finished:
        if row.get("query_id") in wanted and row["query_id"] not in seen:
            kept.append(row)
            seen.add(row["query_id"])
    if len(kept) != len(finished):
        write_jsonl_atomic(out, kept)
    by_id = {r["query_id"]: r for r in train}
    return [by_id[row["query_id"]] for row in kept] + [r for r in train if r["query_id"] not in seen], len(kept)


def distill_stage(run: Run, config: AdaptConfig, voted: list[dict], progress: bool) -> dict:
    """Distil into a query adapter (resumable by epoch: the folder is keyed by the records) and copy the checkpoint
    to ``config.out``."""
    from o1_retriever.trainer.distill import STATE_FILE, DistillConfig, distill

    records = as_records(voted)
    digest = hashlib.sha256(json.dumps([r.to_dict() for r in records], sort_keys=True).encode()).hexdigest()[:12]
    folder = run.path(f"distill-{digest}")
    # the shipped recipe's settings; every epoch is kept (a passage bank of the questions' own passages is too easy
    # to stop on: the held-out slice, scored over the whole corpus afterwards, is the check)
    settings = {"seed": config.seed, "batch_size": max(2, min(32, len(records) // 2)), **config.distill}
    data = f"adapt: {len(records)} records"
    distill_config = DistillConfig(data=data, model=config.model, out=str(folder), **settings)
    summary = distill(distill_config, records, progress=progress, held=set())
    for path in folder.iterdir():
        if path.name == STATE_FILE:
            continue
        target = Path(config.out) / path.name
        if path.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(path, target)
        else:
            shutil.copy2(path, target)
    return summary
