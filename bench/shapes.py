"""The paper's model shapes, for benchmarks with random weights (speed does not depend on the weights)."""

from __future__ import annotations

PAPER_SHAPES: dict[str, dict] = {
    "s-llama-1.3b": dict(  # princeton-nlp/Sheared-LLaMA-1.3B
        model_type="llama",
        hidden_size=2048,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=16,
        intermediate_size=5504,
        vocab_size=32000,
        max_position_embeddings=4096,
        rms_norm_eps=1e-5,
    ),
    "mistral-7b": dict(  # mistralai/Mistral-7B-v0.1
        model_type="mistral",
        hidden_size=4096,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=8,
        intermediate_size=14336,
        vocab_size=32000,
        max_position_embeddings=32768,
        sliding_window=4096,
        rms_norm_eps=1e-5,
        rope_theta=10000.0,
    ),
}
