"""The ``o1-retriever`` command line: one Typer app, commands grouped by module, each importing what it needs when
it runs (``serve``: weights, index, search, think; ``evaluate``; ``data``: synthesize, records, vote; ``train``)."""

from __future__ import annotations

import typer

app = typer.Typer(help="A retriever that thinks before it embeds.", no_args_is_help=True, add_completion=False)

from o1_retriever.cli import data, evaluate, serve, train  # noqa: E402  (each registers its commands on ``app``)

__all__ = ["app", "data", "evaluate", "serve", "train"]


def main() -> None:  # pragma: no cover
    app()
