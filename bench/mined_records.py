"""Training records with hard negatives mined by a model itself (issue 15, step 1): to each record's BM25 negatives
add the documents a dense run of the model ranks highest for its query among those not judged for it at any level,
after skipping the first few (the likeliest unjudged positives).

    o1-retriever evaluate --data ../shared/data/scifact --model data/dev-default --split train --systems dense \
        --out runs/mine-sf
    python -m bench.mined_records --records data/voted.jsonl.gz --run scifact=runs/mine-sf/runs/dense.trec \
        --run nfcorpus-lite=runs/mine-nfcorpus-lite/runs/dense.trec --skip 3 --take 7 --out runs/mined.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.common import DATA
from bench.compare import read_trec
from o1_retriever.data import load_corpus, load_qrels
from o1_retriever.trainer.records import passage_text, read_records, record_set, write_jsonl_atomic


def mined(ranked: list[str], judged: set[str], skip: int, take: int) -> list[str]:
    """Document ids of a ranking not judged for the query, after the first ``skip`` of them: at most ``take``."""
    unjudged = [d for d in ranked if d not in judged]
    return unjudged[skip : skip + take]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", required=True, type=Path)
    parser.add_argument(
        "--run", action="append", required=True, help="SET=TREC run of the model over SET's train split"
    )
    parser.add_argument("--data-root", type=Path, default=DATA)
    parser.add_argument("--skip", type=int, default=3)
    parser.add_argument("--take", type=int, default=7)
    parser.add_argument("--out", required=True, type=Path)
    args = parser.parse_args()
    runs = dict(item.split("=", 1) for item in args.run)
    texts, rankings, judgments = {}, {}, {}
    for name, path in runs.items():
        folder = args.data_root / name
        texts[name] = {d.id: passage_text(d) for d in load_corpus(folder)}
        run = read_trec(Path(path))
        rankings[name] = {q: sorted(docs, key=docs.get, reverse=True) for q, docs in run.items()}
        judgments[name] = {q: set(docs) for q, docs in load_qrels(folder, "train").items()}
    out, added = [], 0
    for record in read_records(args.records):
        name = record_set(record)
        ranked = rankings.get(name, {}).get(record.query_id, [])
        judged = judgments.get(name, {}).get(record.query_id, set())
        extra = [texts[name][d] for d in mined(ranked, judged, args.skip, args.take)]
        extra = [t for t in extra if t not in record.pos and t not in record.neg]
        added += len(extra)
        record.neg = record.neg + extra
        out.append(record.to_dict())
    write_jsonl_atomic(args.out, out)
    print(json.dumps({"records": len(out), "mined_negatives": added, "out": str(args.out)}))


if __name__ == "__main__":
    main()
