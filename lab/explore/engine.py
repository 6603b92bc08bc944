"""Load variants lazily, keep them loaded, and cache every embedding on disk per (recipe, pooling, instruction, text).

One ``Engine`` holds the models it loaded. Models load one at a time (loading is memory-hungry); each model has a lock
so that two requests never run it at the same time (the per-layer analysis toggles its attention mode). Embeddings
go through ``lab.evaluation.cache.EmbeddingCache``: keyed by model, the bytes of every merged adapter, attention,
length and pooling, so a restart finds them and a retrained adapter misses them.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from lab.adapters import resolve_adapter
from lab.encoder import LLM2Vec
from lab.evaluation.cache import EmbeddingCache, file_digest
from lab.explore.variants import effective_pooling, model_key, unavailable_reason
from lab.variants import Variant

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]  # (texts done, texts to do)
CHUNK = 32  # texts per encode call: the progress bar moves this often


def default_cache_dir() -> Path:
    """Where the app keeps embeddings across restarts: ``$LLM2VEC_LAB_CACHE/app-embeddings``."""
    from lab.models import cache_dir

    return cache_dir() / "app-embeddings"


def recipe_key(variant: Variant, pooling: str) -> dict:
    """Everything besides text and instruction that decides an embedding: the disk cache's key."""
    adapters = [
        [name, file_digest(resolve_adapter(name, variant.model) / "adapter_model.safetensors")]
        for name in variant.adapters
    ]
    return {
        "app": 1,
        "model": variant.model,
        "adapters": adapters,
        "bidirectional": variant.bidirectional,
        "encoder_only": variant.encoder_only,
        "max_length": variant.max_length,
        "pooling": pooling,
    }


class Engine:
    """The variants table, the loaded models and the embedding cache behind the app."""

    def __init__(
        self, variants: Sequence[Variant], device: str | None = None, cache_dir: str | Path | None = None
    ) -> None:
        self._variants: dict[str, Variant] = {}
        for variant in variants:
            if variant.label in self._variants:
                raise ValueError(f"Two variants are labelled {variant.label!r}; labels must be unique.")
            self._variants[variant.label] = variant
        self.device = device
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self._models: dict[tuple, LLM2Vec] = {}
        self._model_locks: dict[tuple, threading.Lock] = {}
        self._load_lock = threading.Lock()
        self._table_lock = threading.Lock()
        self._caches: dict[tuple, EmbeddingCache] = {}
        self._cache_locks: dict[tuple, threading.Lock] = {}
        self._cache_lock = threading.Lock()

    # ------------------------------------------------------------------ the table
    @property
    def labels(self) -> list[str]:
        """Every variant's label, in table order."""
        return list(self._variants)

    def variant(self, label: str) -> Variant:
        """The variant with this label; ``ValueError`` lists the labels."""
        if label not in self._variants:
            raise ValueError(f"Unknown variant {label!r}; expected one of: {', '.join(self._variants)}.")
        return self._variants[label]

    def availability(self) -> dict[str, str | None]:
        """Label -> why it cannot load, or ``None`` when it can."""
        return {label: unavailable_reason(v) for label, v in self._variants.items()}

    def available_labels(self) -> list[str]:
        """Labels of the variants that can load."""
        return [label for label, reason in self.availability().items() if reason is None]

    def add_variant(self, variant: Variant) -> Variant:
        """Load a new variant now (so a bad name fails here, readably) and add it to the table."""
        with self._table_lock:
            existing = self._variants.get(variant.label)
            if existing is not None and existing != variant:
                raise ValueError(f"A different variant is already labelled {variant.label!r}.")
        self.model(variant)
        with self._table_lock:
            self._variants[variant.label] = variant
        return variant

    # ------------------------------------------------------------------ models
    def is_loaded(self, variant: Variant) -> bool:
        """Whether the variant's model is in memory."""
        return model_key(variant) in self._models

    def model(self, variant: Variant) -> LLM2Vec:
        """The loaded model of a variant (loading it the first time); ``ValueError`` says why it cannot load."""
        key = model_key(variant)
        if key in self._models:
            return self._models[key]
        reason = unavailable_reason(variant)
        if reason:
            raise ValueError(f"{variant.label} is unavailable: {reason}.")
        with self._load_lock:
            if key not in self._models:
                logger.info("Loading %s (%s)", variant.label, variant.model)
                try:
                    # an encoder-only model (MiniLM) takes its registry defaults: mean over every token, as
                    # sentence-transformers pools it
                    model = LLM2Vec.from_pretrained(
                        variant.model,
                        bidirectional=None if variant.encoder_only else variant.bidirectional,
                        pooling=None if variant.encoder_only else variant.pooling,
                        max_length=variant.max_length,
                        device=self.device,
                        adapters=list(variant.adapters),
                    )
                except Exception as error:  # any loader failure becomes one readable line for the page
                    raise ValueError(f"Could not load {variant.model!r}: {type(error).__name__}: {error}") from error
                self._model_locks[key] = threading.Lock()
                self._models[key] = model
        return self._models[key]

    def encoder(self, variant: Variant, pooling: str | None = None) -> LLM2Vec:
        """The variant's model with the pooling the page asks for (a light wrapper sharing weights and tokenizer)."""
        model = self.model(variant)
        mode = effective_pooling(variant, pooling)
        if variant.encoder_only or mode == model.config.pooling:
            return model
        return LLM2Vec(model.model, model.tokenizer, replace(model.config, pooling=mode))

    # ------------------------------------------------------------------ embeddings
    def _cache(self, variant: Variant, mode: str) -> tuple[EmbeddingCache, threading.Lock]:
        key = (model_key(variant), mode)
        with self._cache_lock:
            if key not in self._caches:
                self._caches[key] = EmbeddingCache(self.cache_dir, recipe_key(variant, mode))
                self._cache_locks[key] = threading.Lock()
            return self._caches[key], self._cache_locks[key]

    def missing(self, variant: Variant, texts: Sequence[str], instruction: str = "", pooling: str | None = None) -> int:
        """How many distinct ``texts`` are not cached yet (0: ``embed`` loads no model and runs nothing)."""
        cache, lock = self._cache(variant, effective_pooling(variant, pooling))
        with lock:
            return len(cache.missing(texts, instruction.strip()))

    def embed(
        self,
        variant: Variant,
        texts: Sequence[str],
        instruction: str = "",
        pooling: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Unit-length embeddings (n, d) of ``texts``, computing only those not cached yet (in memory or on disk).

        Args:
            variant: which encoder.
            texts: the texts; duplicates are computed once.
            instruction: joined to every text as an (instruction, text) pair; its tokens are attended, not pooled.
            pooling: the page's pooling override (``None``: the variant's own).
            progress: called with (done, total) after every chunk of new texts.
        """
        mode = effective_pooling(variant, pooling)
        instruction = instruction.strip()
        cache, lock = self._cache(variant, mode)
        with lock:
            todo = cache.missing(texts, instruction)
        if todo:
            encoder = self.encoder(variant, pooling)
            done: dict[str, np.ndarray] = {}
            for start in range(0, len(todo), CHUNK):
                chunk = todo[start : start + CHUNK]
                inputs = [(instruction, t) for t in chunk] if instruction else chunk
                with self._model_locks[model_key(variant)]:
                    vectors = encoder.encode(inputs, batch_size=16, show_progress_bar=False, normalize_embeddings=True)
                done.update(zip(chunk, vectors))
                if progress is not None:
                    progress(min(start + CHUNK, len(todo)), len(todo))
        else:
            done = {}
        if not texts:
            return np.zeros((0, self.model(variant).embedding_dim), dtype=np.float32)
        with lock:  # texts another request cached meanwhile are read, not recomputed
            return cache.embed(list(texts), instruction, lambda rest, _: np.stack([done[t] for t in rest]))  # (n, d)

    def layerwise(self, variant: Variant, texts: Sequence[str]) -> np.ndarray:
        """Per layer, mean cos(causal, bidirectional) hidden state of the variant's weights -> (L+1,)."""
        from lab.analysis import layerwise_similarity

        model = self.model(variant)
        with self._model_locks[model_key(variant)]:
            return layerwise_similarity(model, list(texts))
