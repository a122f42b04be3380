"""Keep an ``adapt`` run as evidence: its report (JSON and Markdown) and its durable work (questions, held-out slice,
training pairs' ids and the thoughts), gzipped reproducibly in ``bench/results/adapt/NAME/``; a later session can
seed a run from them (``python -m bench.adapt_sweep --from``) instead of writing the questions again.

    python -m bench.keep_adapt runs/adapt-scifact --name scifact-500
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

from bench.common import RESULTS, write_gzip
from o1_retriever.trainer.adapt import AdaptConfig
from o1_retriever.trainer.adapt.run import RUN_DIR
from o1_retriever.trainer.records import read_finished


def command_of(config: dict) -> str:
    """The ``adapt`` command line equivalent to a run's settings (the ones that differ from the defaults)."""
    defaults = AdaptConfig(corpus="", out="").to_dict()
    words = ["o1-retriever", "adapt", config["corpus"], "--out", config["out"]]
    for name, value in config.items():
        if (
            name not in ("corpus", "out")
            and value != defaults[name]
            and not (isinstance(value, list) and tuple(value) == defaults[name])
        ):
            words += [
                f"--{name.replace('_', '-')}",
                json.dumps(value) if isinstance(value, (dict, list)) else str(value),
            ]
    return " ".join(words)


def keep(out: Path, name: str) -> Path:
    target = RESULTS / "adapt" / name
    target.mkdir(parents=True, exist_ok=True)
    report = json.loads((out / "adapt_report.json").read_text())
    report["command"] = command_of(report["config"])
    (target / "adapt_report.json").write_text(json.dumps(report, indent=2) + "\n")
    shutil.copy2(out / "adapt_report.md", target / "adapt_report.md")
    run = out / RUN_DIR
    for path in [run / "questions.jsonl", run / "held-out.jsonl", *run.glob("thoughts*.jsonl")]:
        if path.exists():
            rows = read_finished(path)
            if path.name.startswith("thoughts"):  # the passages' texts are the corpus's: ids and thoughts suffice
                rows = [{k: r.get(k) for k in ("query_id", "query", "thoughts")} for r in rows]
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            write_gzip(target / f"{path.name}.gz", text.encode())
    pairs = [{k: r[k] for k in ("query_id", "query", "source_rank")} for r in read_finished(run / "pairs.jsonl")]
    write_gzip(target / "pairs.jsonl.gz", "".join(json.dumps(r) + "\n" for r in pairs).encode())
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="an adapt --out folder")
    parser.add_argument("--name", required=True)
    args = parser.parse_args()
    print(keep(args.out, args.name))


if __name__ == "__main__":
    main()
