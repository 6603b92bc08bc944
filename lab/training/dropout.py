"""Dropout as SimCSE's only noise: switch on attention-probability dropout in any transformers decoder.

Llama-style models ship with ``attention_dropout = 0`` and have no hidden-state dropout at all, so two passes of the
same sentence give the same embedding and SimCSE's positives would be trivial. Every transformers 5.x attention
module (llama, mistral, qwen2/3, gemma 1/2/3, phi3, olmo2, ...) stores the probability as ``module.attention_dropout``
and applies it only in training mode (``dropout=0.0 if not self.training else self.attention_dropout``), so one
attribute, plus the config for anything rebuilt from it, serves every architecture.
"""

from __future__ import annotations

import logging

from torch import nn

logger = logging.getLogger(__name__)

SIMCSE_ATTENTION_DROPOUT = 0.3  # LLM2Vec's SimCSE default


def set_attention_dropout(model: nn.Module, p: float) -> int:
    """Set the attention dropout probability of every attention module (and config) to ``p``; returns the count.

    Raises ``ValueError`` for ``p`` outside [0, 1) or when the model has no module with ``attention_dropout``.
    """
    if not 0.0 <= p < 1.0:
        raise ValueError(f"Attention dropout must be in [0, 1); got {p!r}.")
    modules = [m for m in model.modules() if isinstance(getattr(m, "attention_dropout", None), float)]
    if not modules:
        raise ValueError(
            f"{type(model).__name__} has no attention module with an 'attention_dropout' attribute; "
            "cannot switch on dropout for SimCSE."
        )
    for module in modules:
        module.attention_dropout = float(p)
    for config in {id(m.config): m.config for m in model.modules() if getattr(m, "config", None) is not None}.values():
        if hasattr(config, "attention_dropout"):
            config.attention_dropout = float(p)
    logger.info("Attention dropout set to %.2f in %d modules", p, len(modules))
    return len(modules)
