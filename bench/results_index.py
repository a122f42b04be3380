"""bench/results/INDEX.md: every kept result file, the command that wrote it and, for an evaluation, its nDCG@10 per
system, so a figure in docs/results.md leads to one file and one command. ``python -m bench.results_index``
rewrites it; run it after adding a result (``bench.common.keep`` adds an ``evaluate --out`` folder)."""

from __future__ import annotations

from pathlib import Path

from bench.common import RESULTS, read_json

HEADER = """# bench/results

Every result file kept, the command that wrote it (as it was spelt then: docs/results.md says what changed since),
and, for an evaluation, nDCG@10 per system. Per-query results are gzipped JSON (`.json.gz`): read one with
`bench.common.read_json(path)` or `zcat`. Regenerate this page with `python -m bench.results_index`.

| file | command | nDCG@10 |
|---|---|---|
"""


def describe(path: Path) -> tuple[str, str]:
    """(command, headline) of one result file; empty where the file has none."""
    if not path.name.endswith((".json", ".json.gz")):
        return "", ""
    try:
        data = read_json(path)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    command = str(data.get("command", "")).replace("|", "\\|")
    systems = data.get("systems") if isinstance(data.get("systems"), dict) else {}
    scores = [
        f"{name} {entry['metrics']['nDCG@10']:.3f}"
        for name, entry in systems.items()
        if isinstance(entry, dict) and "nDCG@10" in entry.get("metrics", {})
    ]
    return command, ", ".join(scores)


def citing_section(path: Path, pages: dict[str, str]) -> str:
    """Where docs/results.md cites a file that records no command: the heading of the first section naming it."""
    stem = path.name.split(".")[0]
    heading = ""
    for line in pages["results"].splitlines():
        if line.startswith("## "):
            heading = line[3:].strip()
        elif stem in line and heading:
            return f"cited in docs/results.md, {heading}"
    return "no command recorded"


def main() -> None:
    pages = {"results": (RESULTS.parents[1] / "docs" / "results.md").read_text()}
    rows = []
    files = sorted(p for p in RESULTS.rglob("*") if p.is_file() and p.name != "INDEX.md")
    tables = {p.with_suffix("") for p in files if p.suffix == ".md"}
    for path in files:
        run = path.with_name(path.name.split(".")[0])
        if path.suffix == ".md" and any(q != path and q.with_name(q.name.split(".")[0]) == run for q in files):
            continue  # an evaluation's table: listed with its JSON
        command, headline = describe(path)
        what = f"`{command}`" if command else citing_section(path, pages)
        if run in tables and path.suffix != ".md":
            headline += f" (table: `{path.relative_to(RESULTS).with_name(run.name + '.md')}`)"
        rows.append(f"| `{path.relative_to(RESULTS)}` | {what} | {headline} |")
    (RESULTS / "INDEX.md").write_text(HEADER + "\n".join(rows) + "\n")
    print(f"wrote {RESULTS / 'INDEX.md'}: {len(rows)} files")


if __name__ == "__main__":
    main()
