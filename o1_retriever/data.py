"""Reading corpora, queries and judgements: BEIR folders, JSONL files, folders of text files.

Every reader names the file and line of a bad record. Nothing here knows about models.
"""

from __future__ import annotations

import csv
from collections import Counter
import gzip
import hashlib
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

TEXT_SUFFIXES = (".txt", ".md")
logger = logging.getLogger(__name__)


class DataError(ValueError):
    """Input data that cannot be read; the message names the file (and line) and what is wrong."""


class Document(NamedTuple):
    id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = {}


def read_jsonl(path: str | Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line (``.gz`` files too; a byte-order mark opening the file, as
    Windows tools write, is skipped); a DataError naming file and line on malformed JSON."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as error:
                raise DataError(f"{path}:{number}: not valid UTF-8 (byte {error.start + 1} of the line)") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{number}: malformed JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}:{number}: expected a JSON object, got {type(record).__name__}")
            yield number, record


def content_id(text: str) -> str:
    """A deterministic id for a document that has none, so re-ingesting it never duplicates it."""
    return hashlib.sha256(text.encode()).hexdigest()[:20]


def _document_from_record(path: Path, number: int, record: dict[str, Any]) -> Document:
    text, title = record.get("text"), record.get("title") or ""
    if text is not None and not isinstance(text, str):
        raise DataError(f"{path}:{number}: 'text' must be a string, got {type(text).__name__}")
    if not isinstance(title, str):
        raise DataError(f"{path}:{number}: 'title' must be a string, got {type(title).__name__}")
    text = text or ""
    doc_id = record.get("_id", record.get("id"))
    metadata = record.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise DataError(f"{path}:{number}: 'metadata' must be an object")
    return Document(str(doc_id) if doc_id is not None else content_id(title + text), text, title, metadata)


def readable(document: Document) -> Document | None:
    """The document as it is embedded: itself; its title as its text when it has no text; None when it has
    neither (nothing to embed)."""
    if document.text.strip():
        return document
    if document.title.strip():
        return document._replace(text=document.title, title="")
    return None


def skip_empty(documents: list[Document], where: str) -> list[Document]:
    """The readable documents; one warning counts and names the empty ones."""
    kept = [readable(d) for d in documents]
    empty = [d.id for d, k in zip(documents, kept) if k is None]
    if empty:
        named = ", ".join(empty[:5]) + (" ..." if len(empty) > 5 else "")
        logger.warning("%s: skipped %d empty document(s) (no text, no title): %s", where, len(empty), named)
    return [k for k in kept if k is not None]


def load_corpus(source: str | Path, strict: bool = False) -> list[Document]:
    """Documents from a BEIR folder (corpus.jsonl), a JSONL file (``_id``/``id``, ``text``, optional ``title``,
    ``metadata``) or a folder of .txt/.md files (id = relative path).

    Real corpora hold empty rows: a document with neither text nor title is skipped, with one warning that counts
    them and names the first (``strict=True`` refuses the file instead); one with a title and no text is its title.
    """
    source = Path(source)
    if not source.exists():
        raise DataError(f"{source}: no such file or folder")
    if source.is_dir() and (source / "corpus.jsonl").is_file():
        source = source / "corpus.jsonl"
    if source.is_file():
        documents = [_document_from_record(source, n, r) for n, r in read_jsonl(source)]
    else:
        documents = []
        for file in sorted(p for p in source.rglob("*") if p.suffix in TEXT_SUFFIXES and p.is_file()):
            try:
                text = file.read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as error:
                raise DataError(f"{file}: cannot read ({error})") from None
            relative = str(file.relative_to(source))
            documents.append(Document(relative, text, "", {"source": relative}))
    if strict:
        empty = [d.id for d in documents if readable(d) is None]
        if empty:
            raise DataError(f"{source}: {len(empty)} empty document(s) (no text, no title), the first {empty[0]!r}")
    documents = skip_empty(documents, str(source))
    if not documents:
        raise DataError(f"{source}: the corpus is empty")
    repeated = [i for i, n in Counter(d.id for d in documents).items() if n > 1]
    if repeated:
        raise DataError(
            f"{source}: duplicate ids {repeated[:5]}{' ...' if len(repeated) > 5 else ''}: ids must be unique"
        )
    return documents


#: metadata a passage carries: the id of the document it was cut from, and its place in it (0 first)
def shard(documents: list[Document], index: int, count: int) -> list[Document]:
    """The documents of shard ``index`` of ``count`` (0-based): those whose id hashes there. The hash is stable
    (SHA-1 of the id), so every process, on any machine, agrees on the split; shard before splitting into passages,
    so a document's passages stay together."""
    if not 0 <= index < count:
        raise ValueError(f"a shard is i/n with 0 <= i < n, got {index}/{count}")
    return [d for d in documents if int(hashlib.sha1(d.id.encode()).hexdigest(), 16) % count == index]


PASSAGE_OF, PASSAGE = "document_id", "passage"


def word_windows(text: str, words: int, overlap: int) -> list[str]:
    """``text`` as windows of ``words`` words, each sharing ``overlap`` words with the one before (the text itself
    when it is no longer than ``words``). A window is a slice of the text: its line breaks and spacing are kept."""
    if not 0 <= overlap < words:
        raise ValueError(f"passages need 0 <= overlap < words, got overlap {overlap} with {words} words")
    spans = [m.span() for m in re.finditer(r"\S+", text)]
    if len(spans) <= words:
        return [text]
    step = words - overlap
    starts = range(0, len(spans) - overlap, step)
    return [text[spans[s][0] : spans[min(s + words, len(spans)) - 1][1]] for s in starts]


def split_into_passages(documents: list[Document], words: int, overlap: int) -> list[Document]:
    """Each document as passages of ``words`` words sharing ``overlap`` (the encoder reads a few hundred tokens
    of a text: a longer one is otherwise embedded by its beginning). A passage keeps its document's title and
    metadata, adds ``document_id`` and ``passage``, and is ``ID#i``; a document that fits in one keeps its id."""
    out = []
    for document in documents:
        windows = word_windows(document.text, words, overlap)
        for i, window in enumerate(windows):
            passage_id = document.id if len(windows) == 1 else f"{document.id}#{i}"
            metadata = {**document.metadata, PASSAGE_OF: document.id, PASSAGE: i}
            out.append(Document(passage_id, window, document.title, metadata))
    return out


def load_queries(folder: str | Path) -> dict[str, str]:
    """Query id -> text from a BEIR folder's queries.jsonl."""
    path = Path(folder) / "queries.jsonl"
    queries: dict[str, str] = {}
    for number, record in read_jsonl(path):
        if "_id" not in record or not isinstance(record.get("text"), str):
            raise DataError(f"{path}:{number}: a query needs '_id' and 'text'")
        queries[str(record["_id"])] = record["text"]
    return queries


def load_qrels(folder: str | Path, split: str = "test") -> dict[str, dict[str, int]]:
    """Every graded judgement: query id -> {document id: relevance} from ``qrels/<split>.tsv`` (header line)."""
    path = Path(folder) / "qrels" / f"{split}.tsv"
    if not path.is_file():
        available = sorted(p.stem for p in (Path(folder) / "qrels").glob("*.tsv"))
        raise DataError(f"{path}: no such file (splits here: {available or 'none'})")
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8-sig", newline="") as handle:
        rows = csv.reader(handle, delimiter="\t")
        for number, row in enumerate(rows, start=1):
            if number == 1 and row and not row[-1].lstrip("-").isdigit():
                continue  # header
            if not row:
                continue
            if len(row) < 3 or not row[-1].lstrip("-").isdigit():
                raise DataError(f"{path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score'")
            query_id, doc_id, score = row[0], row[-2], int(row[-1])
            qrels.setdefault(query_id, {})[doc_id] = score
    if not qrels:
        raise DataError(f"{path}: the split is empty")
    return qrels
