"""An on-disk embedding cache: one folder per encoder recipe, one file per instruction, one row per text.

The key of a folder is everything that decides an embedding besides the text and the instruction: model, attention,
pooling, template, length limit, dtype and the bytes of every merged adapter (a retrained adapter misses the cache).
A second run of the suite therefore loads nothing and embeds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

logger = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when the way embeddings are computed changes


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes (adapters are a few MB)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


class EmbeddingCache:
    """Embeddings of (instruction, text) under one recipe ``key``; ``embed`` computes only the missing ones."""

    def __init__(self, root: str | os.PathLike, key: dict) -> None:
        self.key = {"cache_version": CACHE_VERSION, **key}
        name = hashlib.sha256(json.dumps(self.key, sort_keys=True).encode()).hexdigest()[:20]
        self.folder = Path(root) / name
        self._tables: dict[str, dict[str, np.ndarray]] = {}

    def _path(self, instruction: str) -> Path:
        return self.folder / f"{_digest(instruction)[:16]}.npz"

    def _table(self, instruction: str) -> dict[str, np.ndarray]:
        if instruction not in self._tables:
            path, table = self._path(instruction), {}
            if path.is_file():
                with np.load(path) as saved:
                    table = dict(zip(saved["digests"].tolist(), saved["vectors"]))
            self._tables[instruction] = table
        return self._tables[instruction]

    def _save(self, instruction: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "key.json").write_text(json.dumps(self.key, indent=2, sort_keys=True) + "\n")
        table, path = self._tables[instruction], self._path(instruction)
        tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
        np.savez(tmp, digests=np.asarray(list(table), dtype="U32"), vectors=np.stack(list(table.values())))
        os.replace(tmp, path)

    def missing(self, texts: Sequence[str], instruction: str) -> list[str]:
        """The distinct texts not cached yet under ``instruction``."""
        table = self._table(instruction)
        return [t for t in dict.fromkeys(texts) if _digest(t) not in table]

    def embed(
        self, texts: Sequence[str], instruction: str, compute: Callable[[list[str], str], np.ndarray]
    ) -> np.ndarray:
        """Rows for ``texts`` (n, d) float32; ``compute(missing_texts, instruction)`` is called once, if at all."""
        todo = self.missing(texts, instruction)
        table = self._table(instruction)
        if todo:
            vectors = np.asarray(compute(todo, instruction), dtype=np.float32)
            table.update(zip((_digest(t) for t in todo), vectors))
            self._save(instruction)
            logger.info("Embedded %d new texts into %s", len(todo), self.folder)
        return np.stack([table[_digest(t)] for t in texts]) if texts else np.zeros((0, 0), np.float32)
