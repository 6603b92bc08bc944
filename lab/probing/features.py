"""Word features from a frozen LLM2Vec variant: every requested layer from one forward pass, cached on disk.

A sentence's words are joined with single spaces (how byte-level BPE saw text in pre-training, so " call" is one token
rather than "c"+"all") and each sub-token is mapped back to the word owning its characters; a token that is only a
space belongs to no word. A word's vector is the mean of its sub-tokens' states, or its first sub-token's.

MNTP trains position ``i - 1`` to predict the masked token ``i`` (the causal LM head's shift), so for MNTP-trained
variants the paper reads every sub-token one position to the left (``shift=-1``): a word is read where the model
predicts it. Positions that fall before the sentence are dropped; a word left with none (the first word's only
sub-token) is read at position 0.

A tokenizer that adds no BOS (SmolLM2's) puts the first word at position 0, which deep layers of a causal model turn
into an attention sink with activations near 2.5e4, so its state says little about the word. ``sink_token`` puts a
special token there instead, as Llama-2's BOS does for the paper's models.

Features are stored as float16 ``.npy`` files, one ``(n_words, hidden)`` matrix per layer, opened as memory maps, in
a folder named by a hash of everything that changes them (``feature_key``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from lab.adapters import SETTINGS_NAME, resolve_adapter
from lab.models import cache_dir
from lab.variants import get_variant

logger = logging.getLogger(__name__)

FEATURE_VERSION = 1  # bump when the extraction code changes its output
WORD_POOLINGS = ("mean", "first")
FLOAT16_MAX = float(np.finfo(np.float16).max)  # features are stored as float16; LLMs have outliers near 2.5e4


@dataclass(frozen=True)
class FeatureConfig:
    """Everything besides the sentences that decides a word feature."""

    model: str = "smollm2-135m"
    variant: str = "uni"
    layers: tuple[int, ...] | None = None  # hidden-state indices (0 = embeddings); None = all
    word_pooling: str = "mean"  # mean of a word's sub-tokens, or its first sub-token
    shift: int | None = None  # None: the variant's default (-1 for MNTP-trained, 0 otherwise)
    max_length: int = 512  # a sentence longer than this many tokens is an error, never silently cut
    batch_size: int = 16  # sentences per forward pass; features do not depend on it
    dtype: str = "float32"  # forward pass (stored as float16); bf16 moved some deep states of SmolLM2 on a CPU
    # A special token put at position 0 of every sentence (e.g. "<|endoftext|>"). Without one the first word sits at
    # position 0, which deep layers turn into an attention sink (Llama-2's BOS takes that role for the paper's models).
    sink_token: str | None = None
    # Adapters merged in order instead of the variant's (None: the variant's), e.g. an MNTP run's checkpoints.
    adapters: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        get_variant(self.variant)
        if self.adapters is not None:
            object.__setattr__(self, "adapters", tuple(str(a) for a in self.adapters))
        if self.word_pooling not in WORD_POOLINGS:
            raise ValueError(f"Unknown word_pooling {self.word_pooling!r}; expected one of {', '.join(WORD_POOLINGS)}.")
        if self.shift not in (None, 0, -1):
            raise ValueError(f"shift must be None (variant default), 0 or -1; got {self.shift!r}.")
        if self.layers is not None:
            object.__setattr__(self, "layers", tuple(sorted({int(i) for i in self.layers})))

    @property
    def resolved_shift(self) -> int:
        return get_variant(self.variant).shift if self.shift is None else self.shift

    @property
    def resolved_adapters(self) -> tuple[str, ...]:
        return get_variant(self.variant).adapters if self.adapters is None else self.adapters


# ---------------------------------------------------------------------------------------------- alignment
@dataclass
class Aligned:
    """One sentence tokenised: ids and, per token, the index of the word it belongs to (-1: none)."""

    input_ids: np.ndarray  # (T,)
    token_word: np.ndarray  # (T,)


def sink_token_id(tokenizer, sink_token: str) -> int:
    """The id of ``sink_token``, which must be one token of the vocabulary (a special token such as BOS or EOS)."""
    token_id = tokenizer.convert_tokens_to_ids(sink_token)
    unknown = token_id == tokenizer.unk_token_id and sink_token != tokenizer.unk_token  # SmolLM2's unk is a real token
    if not isinstance(token_id, int) or token_id < 0 or unknown:
        known = ", ".join(repr(t) for t in tokenizer.all_special_tokens)
        raise ValueError(f"sink_token {sink_token!r} is not one token of this tokenizer; its special tokens: {known}.")
    return token_id


def align_words(tokenizer, sentences: Sequence[Sequence[str]], sink_token: str | None = None) -> list[Aligned]:
    """Tokenise space-joined words in one fast-tokenizer call and map each token to its word by character offsets.

    With ``sink_token``, that token is put before each sentence at position 0 (it belongs to no word)."""
    sink = [] if sink_token is None else [sink_token_id(tokenizer, sink_token)]
    texts = [" ".join(words) for words in sentences]
    encoded = tokenizer(texts, add_special_tokens=True, return_offsets_mapping=True, return_attention_mask=False)
    out = []
    for words, text, ids, offsets in zip(sentences, texts, encoded["input_ids"], encoded["offset_mapping"]):
        char_word = np.full(len(text) + 1, -1, dtype=np.int64)  # (chars,) word index of each character, -1 for spaces
        start = 0
        for index, word in enumerate(words):
            char_word[start : start + len(word)] = index
            start += len(word) + 1
        spans = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)  # (T, 2)
        # a token's word: the largest word index among its characters (-1 if only spaces or a special token)
        token_word = np.array([char_word[s:e].max(initial=-1) for s, e in spans], dtype=np.int64)
        missing = set(range(len(words))) - set(token_word.tolist())
        if missing:
            raise ValueError(f"Words {sorted(missing)} of {list(words)!r} got no token; check the tokenizer's offsets.")
        input_ids = np.asarray(sink + list(ids), dtype=np.int64)
        out.append(Aligned(input_ids, np.concatenate([np.full(len(sink), -1, dtype=np.int64), token_word])))
    return out


def word_positions(token_word: np.ndarray, n_words: int, shift: int, pooling: str) -> tuple[np.ndarray, np.ndarray]:
    """Token positions read for each word: ``(positions, words)``, two equal-length arrays of (position, word) pairs.

    ``mean``: every sub-token of the word, moved by ``shift``; ``first``: only the first, moved by ``shift``.
    Positions moved before 0 are dropped; a word left with none is read at position 0.
    """
    positions = np.flatnonzero(token_word >= 0)  # (P,) tokens that belong to a word
    words = token_word[positions]
    if pooling == "first":
        _, first = np.unique(words, return_index=True)  # words are in order, so this is each word's first token
        positions, words = positions[first], words[first]
    positions = positions + shift
    keep = positions >= 0
    positions, words = positions[keep], words[keep]
    orphans = np.setdiff1d(np.arange(n_words), words)  # e.g. word 0 with one sub-token under shift -1
    positions = np.concatenate([positions, np.zeros(len(orphans), dtype=np.int64)])
    words = np.concatenate([words, orphans])
    return positions, words


def pool_words(
    hidden: torch.Tensor, rows: torch.Tensor, positions: torch.Tensor, words: torch.Tensor, n_words: int
) -> torch.Tensor:
    """Mean of the hidden states at (row, position) pairs per word. hidden (S, B, T, C) -> (S, n_words, C)."""
    picked = hidden[:, rows, positions].float()  # (S, P, C)
    sums = torch.zeros(hidden.shape[0], n_words, hidden.shape[-1], dtype=torch.float32, device=hidden.device)
    sums.index_add_(1, words, picked)  # (S, W, C)
    counts = torch.zeros(n_words, dtype=torch.float32, device=hidden.device).index_add_(
        0, words, torch.ones_like(words, dtype=torch.float32)
    )  # (W,)
    return sums / counts.clamp_min(1.0)[None, :, None]


# ---------------------------------------------------------------------------------------------- cache key
def words_hash(sentences: Sequence[Sequence[str]]) -> str:
    """Content hash of the words (identifies data file, split and subset together)."""
    digest = hashlib.sha256()
    for words in sentences:
        digest.update(("\u241f".join(words) + "\n").encode("utf-8"))
    return digest.hexdigest()[:16]


def _adapter_fingerprints(config: FeatureConfig) -> list[str]:
    """Name plus content hash of each adapter's weights, so retrained adapters never reuse stale features."""
    prints = []
    for adapter in config.resolved_adapters:
        folder = resolve_adapter(adapter, config.model)
        digest = hashlib.sha256()
        files = sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.json"))
        for path in [f for f in files if f.name != SETTINGS_NAME]:  # settings added later: same weights, same key
            digest.update(path.name.encode() + path.read_bytes())
        prints.append(f"{adapter}:{digest.hexdigest()[:12]}")
    return prints


def key_fields(config: FeatureConfig, sentences: Sequence[Sequence[str]]) -> dict:
    """Everything that changes the features, as a JSON-able dict (saved beside them)."""
    variant = get_variant(config.variant)
    return {
        "version": FEATURE_VERSION,
        "model": config.model,
        "bidirectional": variant.bidirectional,
        "adapters": _adapter_fingerprints(config),
        "shift": config.resolved_shift,
        "word_pooling": config.word_pooling,
        "max_length": config.max_length,
        "dtype": config.dtype,
        "layers": list(config.layers or ["all"]),
        "data": words_hash(sentences),
        "n_sentences": len(sentences),
        "n_words": sum(len(s) for s in sentences),
        # only when set, so that caches written before this option existed keep their keys
        **({"sink_token": config.sink_token} if config.sink_token is not None else {}),
    }


def feature_key(config: FeatureConfig, sentences: Sequence[Sequence[str]]) -> str:
    """A short hash of ``key_fields``: the cache folder's name."""
    blob = json.dumps(key_fields(config, sentences), sort_keys=True).encode()
    return f"{config.variant}-{hashlib.sha256(blob).hexdigest()[:16]}"


def feature_root() -> Path:
    """Where features are cached: ``$LLM2VEC_LAB_CACHE/probing-features`` (default ``~/.cache/llm2vec-lab``)."""
    return cache_dir() / "probing-features"


# ---------------------------------------------------------------------------------------------- extraction
@dataclass
class FeatureSet:
    """Cached word features: one float16 (n_words, hidden) memory map per layer."""

    folder: Path
    meta: dict = field(default_factory=dict)

    @property
    def layers(self) -> list[int]:
        return list(self.meta["layer_indices"])

    @property
    def n_words(self) -> int:
        return int(self.meta["n_words"])

    def layer(self, index: int) -> np.ndarray:
        """The (n_words, hidden) float16 features of hidden-state ``index`` (0 = embeddings)."""
        if index not in self.layers:
            raise ValueError(f"Layer {index} is not in this feature set; it holds {self.layers}.")
        return np.load(self.folder / f"layer_{index:03d}.npy", mmap_mode="r")


def load_encoder(config: FeatureConfig):
    """The frozen ``LLM2Vec`` of a feature config's model and variant."""
    from lab.encoder import LLM2Vec

    variant = get_variant(config.variant)
    return LLM2Vec.from_pretrained(
        config.model,
        bidirectional=variant.bidirectional,
        adapters=list(config.resolved_adapters),
        max_length=config.max_length,
        dtype=config.dtype,
    )


@torch.inference_mode()
def _extract(encoder, sentences: Sequence[Sequence[str]], config: FeatureConfig, folder: Path) -> dict:
    """Run the model once per batch and write every requested layer's word features into ``folder``."""
    aligned = align_words(encoder.tokenizer, sentences, config.sink_token)
    too_long = [i for i, a in enumerate(aligned) if len(a.input_ids) > config.max_length]
    if too_long:
        raise ValueError(
            f"Sentence {too_long[0]} has {len(aligned[too_long[0]].input_ids)} tokens, more than "
            f"max_length={config.max_length}; raise max_length."
        )
    n_hidden = int(encoder.model.config.num_hidden_layers) + 1
    layers = list(config.layers) if config.layers is not None else list(range(n_hidden))
    bad = [i for i in layers if not 0 <= i < n_hidden]
    if bad:
        raise ValueError(f"Layers {bad} do not exist; {config.model} has hidden states 0..{n_hidden - 1}.")
    offsets = np.concatenate([[0], np.cumsum([len(s) for s in sentences])])  # first global word index per sentence
    n_words, dim = int(offsets[-1]), encoder.embedding_dim
    maps = {
        i: np.lib.format.open_memmap(folder / f"layer_{i:03d}.npy", mode="w+", dtype=np.float16, shape=(n_words, dim))
        for i in layers
    }
    encoder.model.eval()
    order = np.argsort([-len(a.input_ids) for a in aligned], kind="stable")  # longest first: less padding
    shift = config.resolved_shift
    for start in tqdm(range(0, len(order), config.batch_size), desc=f"features {config.variant}", unit="batch"):
        index = order[start : start + config.batch_size]
        batch = encoder.collate(
            [
                {"input_ids": aligned[i].input_ids, "pool_mask": np.ones(len(aligned[i].input_ids), dtype=bool)}
                for i in index
            ]
        )
        hidden = encoder.forward(batch, output_hidden_states=True).hidden_states
        stacked = torch.stack([hidden[i] for i in layers])  # (S, B, T, C)
        rows, positions, targets = [], [], []
        for row, i in enumerate(index):
            pos, words = word_positions(aligned[i].token_word, len(sentences[i]), shift, config.word_pooling)
            rows.append(np.full(len(pos), row))
            positions.append(pos)
            targets.append(words + offsets[i])  # global word indices
        targets = np.concatenate(targets)
        unique, local = np.unique(targets, return_inverse=True)  # global word ids of this batch, and 0..W-1 per pair
        device = stacked.device
        pooled = pool_words(
            stacked,
            torch.as_tensor(np.concatenate(rows), device=device),
            torch.as_tensor(np.concatenate(positions), device=device),
            torch.as_tensor(local, device=device),
            len(unique),
        )  # (S, W, C)
        peak = float(pooled.abs().max()) if pooled.numel() else 0.0
        if not peak <= FLOAT16_MAX:  # also catches NaN; an inf in the cache would poison every probe's standardiser
            raise ValueError(
                f"A word feature reaches {peak:.4g}, beyond float16's range ({FLOAT16_MAX:.0f}); the cache cannot "
                "store it. Check the model (dtype, adapters) for overflowing activations."
            )
        pooled = pooled.to(torch.float16).cpu().numpy()
        for s, layer in enumerate(layers):
            maps[layer][unique] = pooled[s]
    for m in maps.values():
        m.flush()
    return {"layer_indices": layers, "n_words": n_words, "hidden_size": dim, "n_hidden_states": n_hidden}


def extract_features(
    sentences: Sequence[Sequence[str]],
    config: FeatureConfig,
    encoder_factory: Callable[[FeatureConfig], object] | None = None,
    root: str | os.PathLike | None = None,
) -> FeatureSet:
    """Word features of ``sentences`` (lists of words), from the cache or from one model pass that fills it.

    Args:
        sentences: each a sequence of words.
        config: model, variant, layers, alignment and pooling.
        encoder_factory: builds the ``LLM2Vec`` (default ``load_encoder``); called only on a cache miss.
        root: cache folder (default ``feature_root()``).
    """
    sentences = [list(s) for s in sentences]
    root = Path(root) if root is not None else feature_root()
    fields_ = key_fields(config, sentences)
    folder = root / feature_key(config, sentences)
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        logger.info("Features cached at %s", folder)
        return FeatureSet(folder, json.loads(meta_path.read_text()))
    encoder = (encoder_factory or load_encoder)(config)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".tmp-", dir=root))
    try:
        meta = {**_extract(encoder, sentences, config, tmp), "key": fields_, "config": asdict(config)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        if folder.exists():  # an interrupted earlier run without meta.json
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return FeatureSet(folder, meta)
