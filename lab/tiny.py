"""Tiny randomly initialised decoders of every supported architecture, with a small real BPE tokenizer.

They make unit tests of the whole pipeline run in milliseconds. ``tiny-<arch>`` names load them anywhere a model name
is accepted (``LLM2Vec.from_pretrained("tiny-qwen2")``).
"""

from __future__ import annotations

import functools
from typing import Any

import torch
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, PreTrainedModel, PreTrainedTokenizerFast

# Per-architecture extras on top of the shared tiny shape. The sliding window (16) is longer than the verifier's probe
# but shorter than many test sentences, so tests see both regimes.
TINY_ARCHITECTURES: dict[str, dict[str, Any]] = {
    "llama": {},
    "mistral": {"sliding_window": 16},
    "qwen2": {"use_sliding_window": True, "sliding_window": 16, "max_window_layers": 1},
    "qwen3": {},
    "gemma": {},
    "gemma2": {"sliding_window": 16},
    "gemma3": {"model_type": "gemma3_text", "sliding_window": 16, "sliding_window_pattern": 2},
    "phi3": {},
    "olmo2": {},
}

TINY_SHAPE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=3,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    max_position_embeddings=512,
)
TINY_VOCAB = 512  # BPE merges learnt from TINY_TEXT below

TINY_TEXT = """\
Bidirectional attention lets every token see the whole sentence, the words before it and the words after it.
A decoder-only language model reads left to right; its causal mask hides the future from each position.
LLM2Vec removes that mask, trains the model to predict masked words from their neighbours, and then learns to
embed sentences with a contrastive loss. The cat sat on the mat. A dog ran in the park while it was raining.
Stock markets fell sharply on Monday after the central bank raised interest rates by half a point.
The football club signed a new striker from Brazil for the coming season.
Scientists found water ice in craters near the south pole of the Moon.
"""


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer trained in memory on ``TINY_TEXT`` (no files, no network)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    specials = ["<unk>", "<s>", "</s>", "<pad>"]
    trainer = trainers.BpeTrainer(
        show_progress=False,
        vocab_size=TINY_VOCAB,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(TINY_TEXT.splitlines(), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )


def check_architecture(arch: str) -> str:
    """Return ``arch`` if a tiny model exists for it, else raise a ``ValueError`` listing the choices."""
    if arch not in TINY_ARCHITECTURES:
        raise ValueError(f"Unknown tiny architecture {arch!r}; expected one of {', '.join(TINY_ARCHITECTURES)}.")
    return arch


def tiny_config(arch: str, attn_implementation: str = "sdpa", **overrides: Any):
    """The config of a tiny model of ``arch``."""
    extras = dict(TINY_ARCHITECTURES[check_architecture(arch)])
    model_type = extras.pop("model_type", arch)
    tokenizer = tiny_tokenizer()
    kwargs = dict(
        TINY_SHAPE,
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    kwargs.update(extras)
    kwargs.update(overrides)
    config = AutoConfig.for_model(model_type, **kwargs)
    config._attn_implementation = attn_implementation
    return config


def tiny_model(
    arch: str, causal_lm: bool = False, attn_implementation: str = "sdpa", seed: int = 0, **overrides: Any
) -> PreTrainedModel:
    """A tiny random model (the base decoder, or with its LM head when ``causal_lm``), seeded for repeatability."""
    config = tiny_config(arch, attn_implementation, **overrides)
    torch.manual_seed(seed)
    auto = AutoModelForCausalLM if causal_lm else AutoModel
    return auto.from_config(config, attn_implementation=attn_implementation).eval()


def supports_sdpa(arch: str) -> bool:
    """Whether transformers offers SDPA attention for ``arch`` (Gemma 2 is eager-only in transformers 5.x)."""
    try:
        tiny_model(arch, attn_implementation="sdpa")
    except ValueError:
        return False
    return True
