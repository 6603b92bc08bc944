"""A corpus for the page: texts with optional labels, parsed from the text box or an uploaded file, within caps.

The text box is the one home of the corpus: one text a line, optionally ``label<TAB>text``. Uploads and the built-in
example sets are turned into that format and shown in the box, so what the user sees is exactly what gets embedded.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

MAX_TEXTS = 2000  # a corpus of 2,000 short texts embeds in about a minute per SmolLM2 variant on 2 CPU cores
MAX_CHARS = 2000  # per text (and per query); about 500 tokens, the encoder's max_length
MAX_UPLOAD_BYTES = 5_000_000
TEXT_COLUMNS = ("text", "sentence", "sentence1", "content", "document")
LABEL_COLUMNS = ("label", "topic", "category", "class", "genre")
UPLOAD_SUFFIXES = (".txt", ".csv", ".jsonl")


class CorpusError(ValueError):
    """A corpus the page cannot use (the text box, an upload, an example set); the message is shown as is.

    Other bad input (a query, a size, a choice) is a plain ``ValueError``: the page shows those as is too.
    """


@dataclass
class Corpus:
    """Texts and, when every text has one, their labels (for colouring plots)."""

    texts: list[str]
    labels: list[str] | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def to_text(self) -> str:
        """The text-box form: one text a line, ``label<TAB>text`` when labelled."""
        if self.labels is None:
            return "\n".join(self.texts)
        return "\n".join(f"{label}\t{text}" for label, text in zip(self.labels, self.texts))


def _clean(text: str) -> str:
    return " ".join(str(text).split())  # newlines and tabs inside a text would break the one-a-line format


def check_text(text: str, what: str = "The text") -> str:
    """Strip a query-like input and enforce the length cap; ``ValueError`` when empty or too long (not a corpus)."""
    text = (text or "").strip()
    if not text:
        raise ValueError(f"{what} is empty; type something first.")
    if len(text) > MAX_CHARS:
        raise ValueError(f"{what} has {len(text):,} characters; the limit is {MAX_CHARS:,}.")
    return text


def validate(corpus: Corpus, min_texts: int = 1) -> Corpus:
    """Enforce the caps: at least ``min_texts``, at most ``MAX_TEXTS`` texts, each at most ``MAX_CHARS`` long."""
    if len(corpus) < min_texts:
        if not corpus.texts:
            raise CorpusError("The corpus is empty: type or paste texts (one a line), upload a file or load one.")
        raise CorpusError(f"This needs at least {min_texts} texts; the corpus has {len(corpus)}.")
    if len(corpus) > MAX_TEXTS:
        raise CorpusError(f"The corpus has {len(corpus):,} texts; the limit is {MAX_TEXTS:,}. Remove some lines.")
    for index, text in enumerate(corpus.texts):
        if len(text) > MAX_CHARS:
            raise CorpusError(
                f"Text {index + 1} has {len(text):,} characters; the limit is {MAX_CHARS:,} (it starts {text[:40]!r})."
            )
    return corpus


def parse_corpus_text(box: str, min_texts: int = 1) -> Corpus:
    """Parse the text box (one text a line, blank lines skipped, optional ``label<TAB>text``) and enforce the caps.

    Labels are kept only when every line has one; otherwise the whole line is the text.
    """
    lines = [line.strip() for line in (box or "").splitlines() if line.strip()]
    pairs = [line.split("\t", 1) for line in lines]
    if pairs and all(len(p) == 2 and p[0].strip() and p[1].strip() for p in pairs):
        corpus = Corpus([_clean(t) for _, t in pairs], [p[0].strip() for p in pairs])
    else:
        corpus = Corpus([_clean(line) for line in lines])
    return validate(corpus, min_texts)


def _pick_column(columns: list[str], wanted: tuple[str, ...]) -> str | None:
    lowered = {c.lower().strip(): c for c in columns}
    return next((lowered[name] for name in wanted if name in lowered), None)


def _from_records(records: list[dict], source: str) -> Corpus:
    """Texts (and labels) from dict rows, choosing the text and label columns by name."""
    columns = list(dict.fromkeys(key for record in records for key in record))
    text_column = _pick_column(columns, TEXT_COLUMNS) or (columns[0] if len(columns) == 1 else None)
    if text_column is None:
        raise CorpusError(
            f"{source}: no text column. Name one of {', '.join(TEXT_COLUMNS)}; found columns: {', '.join(columns)}."
        )
    label_column = _pick_column(columns, LABEL_COLUMNS)
    texts, labels = [], []
    for record in records:
        text = record.get(text_column)
        if text is None or not str(text).strip():
            continue
        texts.append(_clean(text))
        labels.append(_clean(record.get(label_column, "")) if label_column else "")
    keep_labels = label_column is not None and all(labels)
    return Corpus(texts, labels if keep_labels else None)


def _read_csv(content: str, source: str) -> Corpus:
    """Rows of a CSV (comma, tab or semicolon); a bad quote or a row of the wrong width is an error with its line."""
    try:
        dialect = csv.Sniffer().sniff(content[:4096], delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(content), dialect=dialect, strict=True)
    try:
        if not reader.fieldnames:
            raise CorpusError(
                f"{source}: the CSV has no header; its first row must name the columns (e.g. text,label)."
            )
        width = len(reader.fieldnames)
        records, start = [], reader.line_num + 1  # the line the next row starts on
        for row in reader:
            if None in row or None in row.values():  # more fields than the header (key None), or fewer (value None)
                found = width - sum(v is None for v in row.values()) + len(row.get(None) or [])
                raise CorpusError(
                    f"{source}: line {start} has {found} field(s); the header has {width} "
                    f"({', '.join(reader.fieldnames)}). Quote texts that hold the delimiter."
                )
            records.append(row)
            start = reader.line_num + 1
    except csv.Error as error:
        raise CorpusError(
            f"{source}: malformed CSV in the row starting at line {start}: {error} (an unterminated quote?)."
        ) from error
    return _from_records(records, source)


def _read_jsonl(content: str, source: str) -> Corpus:
    records = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise CorpusError(f"{source}: line {number} is not valid JSON ({error.msg}).") from error
        if isinstance(record, str):
            record = {"text": record}
        if not isinstance(record, dict):
            raise CorpusError(
                f"{source}: line {number} is a {type(record).__name__}; expected an object like "
                '{"text": "...", "label": "..."}.'
            )
        records.append(record)
    return _from_records(records, source)


def read_upload(path: str | Path) -> Corpus:
    """Parse an uploaded .txt (one text a line), .csv (a text column, optional label column) or .jsonl file."""
    path = Path(path)
    name = path.name
    if path.suffix.lower() not in UPLOAD_SUFFIXES:
        raise CorpusError(
            f"{name}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(UPLOAD_SUFFIXES)}."
        )
    if path.stat().st_size > MAX_UPLOAD_BYTES:
        raise CorpusError(f"{name} is {path.stat().st_size:,} bytes; the limit is {MAX_UPLOAD_BYTES:,}.")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise CorpusError(f"{name} is not UTF-8 text (byte {error.start} cannot be decoded).") from error
    suffix = path.suffix.lower()
    if suffix == ".txt":
        corpus = parse_corpus_text(content, min_texts=0)
    elif suffix == ".csv":
        corpus = _read_csv(content, name)
    else:
        corpus = _read_jsonl(content, name)
    if not corpus.texts:
        raise CorpusError(f"{name} holds no texts.")
    return validate(corpus)
