"""``python -m o1_retriever``: the same as the ``o1-retriever`` command."""

from o1_retriever.cli import app

app()
