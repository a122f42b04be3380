"""The documentation stays true: the CLI reference is the app's current help, links point at files that exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_cli_reference_is_current():
    from o1_retriever.cli.reference import markdown

    fix = "run: python -m o1_retriever.cli.reference > docs/cli.md"
    assert (ROOT / "docs" / "cli.md").read_text() == markdown(), fix


def test_the_readme_is_a_users_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    main_job = "pip install torch==2.13.0 && pip install -e . && o1-retriever download-weights"
    assert main_job in readme and 'pip install -e ".[test]" && python -m pytest -q' in readme


def test_relative_links_in_the_docs_resolve():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            assert (page.parent / target).exists(), f"{page.name} links to {target}, which does not exist"


def _imports(room: str) -> set[str]:
    """The o1_retriever modules that the modules of ``room`` import (at any depth of the file)."""
    import ast

    found = set()
    for path in (ROOT / "o1_retriever" / room).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("o1_retriever"):
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("o1_retriever"))
    return found


def test_imports_point_one_way():
    """The model room knows no store and no evaluation; retrieval never imports evaluation (nor the CLI, the trainer
    or the integrations)."""
    above_model = ("o1_retriever.retrieval", "o1_retriever.evaluation", "o1_retriever.cli", "o1_retriever.trainer")
    above_retrieval = above_model[1:] + ("o1_retriever.integrations",)
    assert not {m for m in _imports("model") if m.startswith(above_model + ("o1_retriever.integrations",))}
    assert not {m for m in _imports("retrieval") if m.startswith(above_retrieval)}


def test_no_module_of_the_package_is_over_300_lines():
    long = {
        str(path.relative_to(ROOT)): n
        for folder in ("o1_retriever", "integrations", "trainer")
        for path in (ROOT / folder).rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 300
    }
    assert not long
