"""Model shapes for benchmarks with random weights (speed does not depend on the weights), as transformers fields.

One row a shape: ``decoder(model_type, hidden, layers, heads, kv_heads, intermediate, vocab, **other fields)``; the
fields not given keep the architecture's defaults.
"""

from __future__ import annotations

FIELDS = (  # the positional arguments of ``decoder``, in order
    "model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
    "intermediate_size", "vocab_size",
)  # fmt: skip


def decoder(*values: str | int, **other: object) -> dict:
    """The transformers config fields of a decoder shape: ``FIELDS`` in order, then any others by name."""
    return dict(zip(FIELDS, values, strict=True), **other)


# fmt: off
PAPER_SHAPES: dict[str, dict] = {  # one row a shape: the arguments of ``decoder`` line up
    "s-llama-1.3b": decoder("llama", 2048, 24, 16, 16, 5504, 32000,  # princeton-nlp/Sheared-LLaMA-1.3B
                            max_position_embeddings=4096, rms_norm_eps=1e-5),
    "mistral-7b": decoder("mistral", 4096, 32, 32, 8, 14336, 32000,  # mistralai/Mistral-7B-v0.1
                          max_position_embeddings=32768, sliding_window=4096, rms_norm_eps=1e-5, rope_theta=10000.0),
}
# fmt: on

SMALL_SHAPES: dict[str, dict] = {  # CPU-sized: a toy, and SmolLM2-135M's shape
    "tiny": decoder("llama", 64, 3, 4, 2, 128, 512, max_position_embeddings=4096),
    "smollm2": decoder("llama", 576, 30, 9, 3, 1536, 49152, max_position_embeddings=4096, tie_word_embeddings=True),
}


def shape_config(name: str, **overrides):
    """The transformers config of a shape of ``PAPER_SHAPES`` or ``SMALL_SHAPES``, with ``overrides`` applied."""
    from transformers import AutoConfig

    values = {**SMALL_SHAPES, **PAPER_SHAPES}[name] | overrides
    return AutoConfig.for_model(values.pop("model_type"), **values)
