"""Load variants lazily, keep them loaded, and cache every embedding on disk per (recipe, pooling, instruction, text).

One ``Engine`` holds the models it loaded. Models load one at a time (loading is memory-hungry); each model has a lock
so that two requests never run it at the same time (the per-layer analysis toggles its attention mode). Embeddings
go through ``lab.evaluation.cache.EmbeddingCache``: keyed by model, the bytes of every merged adapter, attention,
length and pooling, so a restart finds them and a retrained adapter misses them.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np

from lab.adapters import resolve_adapter
from lab.encoder import LLM2Vec
from lab.evaluation.cache import EmbeddingCache, file_digest
from lab.explore.variants import effective_pooling, model_key, unavailable_reason
from lab.variants import Variant

logger = logging.getLogger(__name__)

T = TypeVar("T")
ProgressCallback = Callable[[int, int], None]  # (texts done, texts to do)
CHUNK = 32  # texts per encode call: the progress bar moves this often
MAX_EXTRA_MODELS = 3  # models loaded from the page kept at once, over all sessions (~0.5 GB each for SmolLM2)


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
        self,
        variants: Sequence[Variant],
        device: str | None = None,
        cache_dir: str | Path | None = None,
        max_extra_models: int = MAX_EXTRA_MODELS,
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
        self._base = dict(self._variants)  # the page's own rows: their models stay loaded
        self.max_extra_models = max_extra_models
        self._extra: OrderedDict[tuple, None] = OrderedDict()  # models of rows outside the table, least recent first
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

    def with_variants(self, extra: Sequence[Variant]) -> Engine:
        """A view of this engine whose table also holds ``extra`` (one session's own models).

        The view shares the loaded models, their locks and the embedding caches, so nothing is loaded or computed
        twice, but only the session holding ``extra`` sees those rows: one visitor's models never change another's
        page.
        """
        view = copy.copy(self)
        view._variants = dict(self._variants)
        for variant in extra:
            if self._variants.get(variant.label, variant) != variant:
                raise ValueError(f"A different variant is already labelled {variant.label!r}.")
            view._variants[variant.label] = variant
        return view

    def _in_table(self, variant: Variant) -> bool:
        return self._base.get(variant.label) == variant

    # ------------------------------------------------------------------ models
    def is_loaded(self, variant: Variant) -> bool:
        """Whether the variant's model is in memory."""
        return model_key(variant) in self._models

    def model(self, variant: Variant) -> LLM2Vec:
        """The loaded model of a variant (loading it the first time); ``ValueError`` says why it cannot load."""
        key = model_key(variant)
        if key in self._models:
            self._touch(variant)
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
                self._model_locks.setdefault(key, threading.Lock())
                self._models[key] = model
            self._touch(variant)
            return self._models[key]

    def _touch(self, variant: Variant) -> None:
        """Mark a model outside the table as just used; unload the least recently used beyond the cap."""
        if self._in_table(variant):
            return
        with self._table_lock:
            key = model_key(variant)
            self._extra[key] = None
            self._extra.move_to_end(key)
            while len(self._extra) > self.max_extra_models:
                old, _ = self._extra.popitem(last=False)
                if not any(model_key(v) == old for v in self._base.values()):
                    logger.info("Unloading %s (least recently used of the page's extra models)", old[0])
                    self._models.pop(old, None)

    def unload(self, variant: Variant) -> bool:
        """Drop a model loaded from the page (not one of the table's); ``True`` when it was loaded."""
        key = model_key(variant)
        if any(model_key(v) == key for v in self._base.values()):
            return False
        with self._table_lock:
            self._extra.pop(key, None)
            return self._models.pop(key, None) is not None

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

    def run(self, variant: Variant, work: Callable[[LLM2Vec], T]) -> T:
        """``work(model)`` under the model's lock (for views that switch its attention mode or kernel)."""
        model = self.model(variant)
        with self._model_locks[model_key(variant)]:
            return work(model)

    def layerwise(self, variant: Variant, texts: Sequence[str]) -> np.ndarray:
        """Per layer, mean cos(causal, bidirectional) hidden state of the variant's weights -> (L+1,)."""
        from lab.analysis import layerwise_similarity

        return self.run(variant, lambda model: layerwise_similarity(model, list(texts)))
