"""Load variants lazily, keep them loaded, and cache every embedding per (variant, pooling, instruction, text).

One ``Engine`` serves every user of the page. Models load once, one at a time (loading is memory-hungry); each model
has a lock so that two requests never run it at the same time (the per-layer analysis toggles its attention mode, and
two forward passes on 2 CPU cores are no faster than one after the other).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np

from lab.encoder import LLM2Vec
from lab.explore.variants import Variant, unavailable_reason

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]  # (texts done, texts to do)
CHUNK = 32  # texts per encode call: the progress bar moves this often
MAX_CACHED = 200_000  # embeddings kept (576 floats each for SmolLM2: ~460 MB at most)


class Engine:
    """The variants table, the loaded models and the embedding cache behind the app."""

    def __init__(self, variants: Sequence[Variant], device: str | None = None, max_cached: int = MAX_CACHED) -> None:
        self._variants: dict[str, Variant] = {}
        for variant in variants:
            if variant.label in self._variants:
                raise ValueError(f"Two variants are labelled {variant.label!r}; labels must be unique.")
            self._variants[variant.label] = variant
        self.device = device
        self.max_cached = max_cached
        self._models: dict[tuple, LLM2Vec] = {}
        self._model_locks: dict[tuple, threading.Lock] = {}
        self._load_lock = threading.Lock()
        self._table_lock = threading.Lock()
        self._cache: OrderedDict[tuple, np.ndarray] = OrderedDict()
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
        return variant.model_key in self._models

    def model(self, variant: Variant) -> LLM2Vec:
        """The loaded model of a variant (loading it the first time); ``ValueError`` says why it cannot load."""
        key = variant.model_key
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
        mode = variant.effective_pooling(pooling)
        if variant.encoder_only or mode == model.config.pooling:
            return model
        return LLM2Vec(model.model, model.tokenizer, replace(model.config, pooling=mode))

    # ------------------------------------------------------------------ embeddings
    def cached_count(self) -> int:
        """How many embeddings are cached."""
        return len(self._cache)

    def embed(
        self,
        variant: Variant,
        texts: Sequence[str],
        instruction: str = "",
        pooling: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """Unit-length embeddings (n, d) of ``texts``, computing only those not cached yet.

        Args:
            variant: which encoder.
            texts: the texts; duplicates are computed once.
            instruction: joined to every text as an (instruction, text) pair; its tokens are attended, not pooled.
            pooling: the page's pooling override (``None``: the variant's own).
            progress: called with (done, total) after every chunk of new texts.
        """
        mode = variant.effective_pooling(pooling)
        instruction = instruction.strip()
        key = (variant.model_key, mode, instruction)
        with self._cache_lock:
            found = {t: self._cache[(*key, t)] for t in texts if (*key, t) in self._cache}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            encoder = self.encoder(variant, pooling)
            lock = self._model_locks[variant.model_key]
            for start in range(0, len(missing), CHUNK):
                chunk = missing[start : start + CHUNK]
                inputs = [(instruction, t) for t in chunk] if instruction else chunk
                with lock:
                    vectors = encoder.encode(inputs, batch_size=16, show_progress_bar=False, normalize_embeddings=True)
                found.update(zip(chunk, vectors))
                self._store([(*key, t) for t in chunk], vectors)
                if progress is not None:
                    progress(min(start + CHUNK, len(missing)), len(missing))
        if not texts:
            return np.zeros((0, self.model(variant).embedding_dim), dtype=np.float32)
        return np.stack([found[t] for t in texts])  # (n, d)

    def _store(self, keys: list[tuple], vectors: np.ndarray) -> None:
        with self._cache_lock:
            for key, vector in zip(keys, vectors):
                self._cache[key] = vector
                self._cache.move_to_end(key)
            while len(self._cache) > self.max_cached:
                self._cache.popitem(last=False)

    def layerwise(self, variant: Variant, texts: Sequence[str]) -> np.ndarray:
        """Per layer, mean cos(causal, bidirectional) hidden state of the variant's weights -> (L+1,)."""
        from lab.analysis import layerwise_similarity

        model = self.model(variant)
        with self._model_locks[variant.model_key]:
            return layerwise_similarity(model, list(texts))
