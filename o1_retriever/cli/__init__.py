"""The ``o1-retriever`` command line: one Typer app, commands grouped by module, each importing what it needs when
it runs, each registering them in the order ``--help`` lists them: ``index_commands`` (download-weights, index),
``search_commands`` (search, think), ``evaluate_command``, ``data_commands`` (synthesize, records, vote),
``train_commands`` (train, distill), ``adapt_command``."""

from __future__ import annotations

import os
import sys
from typing import Optional

import typer

from o1_retriever.model.threads import THREADS_ENV, default_threads

app = typer.Typer(
    help="A retriever that thinks before it embeds.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,  # help text is plain: "[default: ...]" in it stays visible
)


def _print_version(asked: bool) -> None:
    if asked:
        from o1_retriever import __version__

        typer.echo(f"o1-retriever {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    context: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show third-party warnings and load progress bars"),
    threads: Optional[int] = typer.Option(
        None,
        "--threads",
        min=1,
        help="CPU threads for torch [default: $O1_RETRIEVER_THREADS, else every usable core for the batch commands "
        "(index, evaluate, think --records, synthesize, records, vote, train, distill, adapt) and half of them for "
        "search and think]",
    ),
) -> None:
    """A retriever that thinks before it embeds."""
    configure_process(context.invoked_subcommand, threads)
    if not verbose:
        quiet_third_parties()


#: commands that own the machine while they run: they use every usable core unless told
BATCH_COMMANDS = ("index", "evaluate", "synthesize", "records", "vote", "train", "distill", "adapt")


def configure_process(command: Optional[str], threads: Optional[int]) -> None:
    """What the CLI sets in its own process (a library user's process is left alone): torch's threads (``--threads``,
    else ``$O1_RETRIEVER_THREADS``, else the command's default) and MKL's strict reproducible mode, which keeps int8
    thoughts independent of their batch on multithreaded MKL (unless the environment chose a mode)."""
    batch = command in BATCH_COMMANDS or (command == "think" and "--records" in sys.argv)
    if threads is not None:
        os.environ[THREADS_ENV] = str(threads)
    else:
        os.environ.setdefault(THREADS_ENV, str(default_threads(batch)))
    os.environ.setdefault("MKL_CBWR", "AUTO,STRICT")


def quiet_third_parties() -> None:
    """No transformers/hub progress bars, advisory logs or deprecation warnings: our own messages stay."""
    import warnings

    from huggingface_hub.utils import disable_progress_bars
    from transformers.utils import logging as transformers_logging

    disable_progress_bars()
    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    for category in (FutureWarning, DeprecationWarning, UserWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(transformers|peft|torch|huggingface_hub)\.")


# each module registers its commands on ``app``, in this order
from o1_retriever.cli import index_commands, search_commands, evaluate_command  # noqa: E402, F401
from o1_retriever.cli import data_commands, train_commands, adapt_command  # noqa: E402, F401

__all__ = ["app"]


def main() -> None:  # pragma: no cover
    app()
