"""The thoughts of each thinking setting for 5 fixed SciFact test queries, side by side (issue 14's thoughts table):
what a user would read in ``hit.thoughts``.

    python -m bench.thoughts_table [--model PATH] [--thinker-model LM] [--precision int8] [--setting "..." ...]
"""

from __future__ import annotations

import argparse
import shlex
import sys

import torch

from bench.common import DATA, write
from o1_retriever import ThinkThenEmbed
from o1_retriever.data import load_qrels, load_queries
from o1_retriever.model.thinkers.local import LocalThinker

#: the first five SciFact test queries, in the order of queries.jsonl
N_QUERIES = 5
DEFAULT_SETTINGS = [
    "temperature=0.7,max_new_tokens=48",
    "temperature=0.1,max_new_tokens=48",
    "temperature=0.1,max_new_tokens=96",
]


def parse_setting(text: str) -> dict:
    out = {}
    for part in text.split(","):
        key, value = part.split("=")
        out[key.strip()] = float(value) if "." in value else int(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="[default: the shipped model]")
    parser.add_argument("--setting", action="append", default=None, help="key=value,... of ThinkingConfig")
    parser.add_argument("--thinker-model", default=None, help="another local LM thinks [default: the model's own]")
    parser.add_argument("--precision", default=None, help="the thinker's weights, fp32 or int8 [default: the model's]")
    parser.add_argument("--name", default="thoughts-table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = args.setting or DEFAULT_SETTINGS
    thinker = LocalThinker.load(args.thinker_model, precision=args.precision or "fp32") if args.thinker_model else None
    model = ThinkThenEmbed.from_pretrained(
        args.model, cache=False, threads=1, thinker=thinker, precision=args.precision
    )
    judged = load_qrels(DATA / "scifact", "test")
    queries = [q for i, q in load_queries(DATA / "scifact").items() if i in judged][:N_QUERIES]
    table = {}
    for setting in settings:
        thinking = {"n": 3, "top_p": 0.9, "seed": 0, **parse_setting(setting)}
        table[setting] = dict(zip(queries, model.think(queries, **thinking)))
        for query, thoughts in table[setting].items():
            print(f"[{setting}] {query}\n  " + "\n  ".join(thoughts), flush=True)
    write(
        args.name,
        {
            "command": "python -m bench.thoughts_table " + shlex.join(sys.argv[1:]),
            "model": args.model or "shipped default",
            "thinker": repr(model.thinker),
            "queries": queries,
            "thoughts": table,
        },
    )


if __name__ == "__main__":
    main()
