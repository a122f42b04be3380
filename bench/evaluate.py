"""``o1-retriever evaluate`` with the research systems of ``bench/systems.py`` registered too (hyde, bm25-thoughts,
o1-hybrid, hybrid-rrf, dense-hybrid-rrf), for reproducing the runs of docs/results.md that use them:

    python -m bench.evaluate --data ../shared/data/scifact --systems dense,hyde,bm25-thoughts [--lexical-repeats 5]
        [--hyde-generator smollm2-135m-instruct --hyde-encoder all-minilm-l6-v2] [any other evaluate option]
"""

from __future__ import annotations

import argparse
import sys

from bench.systems import QUERY_REPEATS, register_research_systems


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--lexical-repeats", type=int, default=QUERY_REPEATS)
    parser.add_argument("--hyde-generator", default="smollm2-135m-instruct")
    parser.add_argument("--hyde-encoder", default="all-minilm-l6-v2")
    parser.add_argument("--threads", default=None)
    known, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    register_research_systems(known.lexical_repeats, known.hyde_generator, known.hyde_encoder)
    from o1_retriever.cli import app

    threads = ["--threads", known.threads] if known.threads else []
    app([*threads, "evaluate", *rest], prog_name="python -m bench.evaluate")


if __name__ == "__main__":
    main()
