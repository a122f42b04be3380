"""The CLI reference (docs/cli.md), generated from the Typer app: ``python -m o1_retriever.cli.reference``.

A test compares docs/cli.md with this output, so the reference is never out of date.
"""

from __future__ import annotations

import click
import typer

#: help is wrapped at this width, whatever the terminal, so the reference is the same on every machine
WIDTH = 100


def command_help(group: click.Group, name: str | None) -> str:
    """The ``--help`` text of one command (``None``: the app itself), as the app prints it."""
    parent = click.Context(group, info_name="o1-retriever", terminal_width=WIDTH, max_content_width=WIDTH)
    if name is None:
        return group.get_help(parent)
    command = group.commands[name]
    return command.get_help(click.Context(command, info_name=name, parent=parent, terminal_width=WIDTH))


def markdown() -> str:
    """docs/cli.md: the app's help, then each command's, in the order ``o1-retriever --help`` lists them."""
    from o1_retriever.cli import app

    group = typer.main.get_command(app)
    parts = [
        "# CLI reference",
        "",
        "Generated from the Typer app by `python -m o1_retriever.cli.reference > docs/cli.md`; "
        "`tests/test_docs.py` checks it is current.",
        "",
        "```text",
        command_help(group, None),
        "```",
    ]
    for name in group.list_commands(click.Context(group)):
        parts += ["", f"## `o1-retriever {name}`", "", "```text", command_help(group, name), "```"]
    return "\n".join(parts) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
