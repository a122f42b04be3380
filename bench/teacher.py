"""Is the distillation teacher better than the plain query? nDCG@10 over the passages of the training records of
the plain query vector and of the teacher (the o1 vector of the committee-voted thought), for every record that has
a voted thought, with a checkpoint's frozen encoder.

python -m bench.teacher --data data/voted.jsonl.gz --model default --threads 1
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from bench.common import write
from o1_retriever import ThinkThenEmbed
from o1_retriever.model import embedders
from o1_retriever.trainer.distill import PassageBank, teacher_vectors
from o1_retriever.trainer.records import read_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/voted.jsonl.gz")
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="distill-teacher")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = ThinkThenEmbed.from_pretrained(args.model, cache=False, threads=args.threads)
    records = [r for r in read_records(args.data) if r.usable]
    bank = PassageBank.build(records, model.embedder)
    voted = [r for r in records if r.voted_thought]
    teacher, _ = teacher_vectors(model.embedder, voted)
    plain = torch.from_numpy(embedders.embed_queries(model.embedder, [r.query for r in voted], [None] * len(voted)))
    figures = {"queries": len(voted), "passages": len(bank.texts)}
    figures["plain nDCG@10"] = bank.ndcg(plain, voted)
    figures["teacher nDCG@10"] = bank.ndcg(teacher, voted)
    print(f"{len(voted)} queries with a voted thought, {len(bank.texts)} passages")
    plain_score, teacher_score = figures["plain nDCG@10"], figures["teacher nDCG@10"]
    print(f"plain query {plain_score:.4f}  teacher (o1 of the voted thought) {teacher_score:.4f}")
    path = write(args.name, {"command": "python -m bench.teacher " + shlex.join(sys.argv[1:]), **figures})
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
