"""LoRA on the bare decoder: the base causal LM loaded (earlier adapters merged, made bidirectional) and wrapped.

1. ``load_causal_lm(config)``: the base ``AutoModelForCausalLM`` through ``lab.models.load_model`` (earlier adapters
   merged in), made bidirectional with ``lab.bidirectional.make_bidirectional``.
2. ``build_lora_model(causal_lm, config)``: peft LoRA on the **bare decoder** (``causal_lm.model``), so the saved
   adapter loads with ``LLM2Vec.from_pretrained(base, adapters=[out_dir])``. Everything else, the LM head included, is
   frozen. Target modules come from the ``LORA_TARGETS`` table, keyed by ``config.model_type``.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import torch
from torch import nn

from lab.training.config import TrainingConfig

logger = logging.getLogger(__name__)

# LoRA targets per architecture (transformers ``model_type``). The paper adapts every attention and MLP projection.
_LLAMA_LIKE = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
LORA_TARGETS: dict[str, list[str]] = {
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
    "gemma3_text": _LLAMA_LIKE,
    "olmo2": _LLAMA_LIKE,
    "phi3": ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"],  # fused projections
}


def lora_target_modules(model_type: str, requested: Sequence[str] = ()) -> list[str]:
    """The projections to adapt: ``requested`` if given, else the table's entry for ``model_type``."""
    if requested:
        return list(requested)
    if model_type not in LORA_TARGETS:
        raise ValueError(
            f"No default LoRA targets for model_type {model_type!r} (known: {', '.join(sorted(LORA_TARGETS))}); "
            "pass lora_target_modules explicitly."
        )
    return list(LORA_TARGETS[model_type])


def load_causal_lm(config: TrainingConfig) -> tuple[nn.Module, Any]:
    """The base causal LM in fp32 (bf16 comes from autocast), earlier adapters merged, made bidirectional."""
    from lab.adapters import apply_adapters
    from lab.bidirectional import make_bidirectional
    from lab.models import load_model

    causal_lm, tokenizer = load_model(
        config.model, causal_lm=True, dtype=torch.float32, attn_implementation=config.attn_implementation
    )
    if config.adapters:
        causal_lm.model = apply_adapters(causal_lm.model, list(config.adapters), base_name=config.model)
    make_bidirectional(causal_lm)
    causal_lm.train()
    return causal_lm, tokenizer


def build_lora_model(causal_lm: nn.Module, config: TrainingConfig, trainable_token_ids: Sequence[int] = ()):
    """Wrap the bare decoder ``causal_lm.model`` in peft LoRA; freeze everything else (LM head included).

    ``trainable_token_ids``: embedding rows trained and saved with the adapter (a new ``<mask>`` token).
    Returns the ``PeftModel`` decoder; ``causal_lm.model`` is replaced by it so ``causal_lm`` still works end to end.
    """
    from peft import LoraConfig, get_peft_model

    decoder = causal_lm.model
    targets = lora_target_modules(decoder.config.model_type, config.lora_target_modules)
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
        trainable_token_indices={"embed_tokens": list(trainable_token_ids)} if trainable_token_ids else None,
    )
    for parameter in causal_lm.parameters():
        parameter.requires_grad_(False)
    torch.manual_seed(config.seed)  # LoRA's A matrices are random: same seed, same start
    peft_decoder = get_peft_model(decoder, lora)
    peft_decoder.peft_config["default"].base_model_name_or_path = config.model
    causal_lm.model = peft_decoder
    trainable, total = count_parameters(peft_decoder)
    logger.info(
        "LoRA on %s: %s trainable of %s parameters (%.2f%%)",
        ", ".join(targets),
        f"{trainable:,}",
        f"{total:,}",
        100 * trainable / total,
    )
    return peft_decoder


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, sum(p.numel() for p in model.parameters())
