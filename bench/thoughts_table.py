"""The thoughts of each thinking setting for 5 fixed SciFact test queries, side by side (issue 14's thoughts table):
what a user would read in ``hit.thoughts``.

    python -m bench.thoughts_table [--model PATH] [--setting "temperature=0.7,max_new_tokens=48" ...]
"""

from __future__ import annotations

import argparse

import torch

from bench.common import DATA, write
from o1_retriever import ThinkThenEmbed
from o1_retriever.data import load_qrels, load_queries

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
    parser.add_argument("--name", default="thoughts-table")
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = args.setting or DEFAULT_SETTINGS
    model = ThinkThenEmbed.from_pretrained(args.model, cache=False, threads=1)
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
            "command": "python -m bench.thoughts_table",
            "model": args.model or "shipped default",
            "queries": queries,
            "thoughts": table,
        },
    )


if __name__ == "__main__":
    main()
