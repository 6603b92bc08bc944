"""One switch that makes any transformers 5.x decoder attend in both directions, and a test that proves it did.

transformers 5.x builds every decoder's attention mask in ``masking_utils``; when ``config.is_causal`` is False it
builds a bidirectional (padding-only, or bidirectional sliding-window) mask instead of a causal one. The attention
modules also carry an ``is_causal`` flag that SDPA and flash attention read when no mask is materialised, so we set
both. No modeling file is copied, so the same lines serve llama, mistral, qwen2/3, gemma 1/2/3, phi3, olmo2 and
whatever transformers adds next; ``verify_bidirectional`` catches a model on which the switch does not take.

The future-token test: change only the *last* token of a short sequence. If the first position's hidden state
changes, information flowed backwards, so attention is bidirectional; under a causal mask it cannot change.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

logger = logging.getLogger(__name__)

PROBE_LENGTH = 8  # shorter than any sliding window we know of (Mistral 4096, Gemma 3 512, our tiny models 16)
# A hidden state "changed" when it moved by more than this fraction of its norm; float noise is ~1e-7 in fp32 and
# ~1e-2 in bf16, while a real change from a new token is O(0.1-1).
CHANGE_TOLERANCE = {torch.float32: 1e-5, torch.float64: 1e-9, torch.bfloat16: 2e-2, torch.float16: 5e-3}


class BidirectionalityError(RuntimeError):
    """The model still hides the future from earlier positions after being made bidirectional (or the reverse)."""


def decoder_of(model: nn.Module) -> nn.Module:
    """The bare decoder stack (``LlamaModel`` inside ``LlamaForCausalLM``, a peft model's base, ...)."""
    if hasattr(model, "get_base_model"):  # peft
        model = model.get_base_model()
    inner = getattr(model, "model", None)
    if isinstance(inner, nn.Module) and hasattr(inner, "layers"):
        return inner
    return model


def _attention_modules(model: nn.Module) -> list[nn.Module]:
    return [module for module in model.modules() if hasattr(module, "is_causal") and isinstance(module, nn.Module)]


def _configs(model: nn.Module) -> list:
    """Every distinct config object reachable from the model (a causal-LM wrapper and its decoder may not share one)."""
    configs = {id(m.config): m.config for m in model.modules() if getattr(m, "config", None) is not None}
    return list(configs.values())


def set_causal(model: nn.Module, causal: bool) -> nn.Module:
    """Switch attention between causal and bidirectional in place, and return the model.

    Sets ``config.is_causal`` (read by transformers' mask builders) and every attention module's ``is_causal`` (read by
    SDPA / flash attention when no mask tensor is passed). Nothing else changes: weights, dropout, dtype stay as they
    are.
    """
    configs = _configs(model)
    if not configs:
        raise TypeError(f"{type(model).__name__} has no transformers config; expected a transformers decoder model.")
    for config in configs:
        config.is_causal = causal
    for module in _attention_modules(model):
        module.is_causal = causal
    return model


def is_causal(model: nn.Module) -> bool:
    """The attention mode the switch last set (transformers' default is causal)."""
    return bool(getattr(_configs(model)[0], "is_causal", True))


@contextmanager
def attention_mode(model: nn.Module, causal: bool) -> Iterator[nn.Module]:
    """Temporarily run the same weights causally or bidirectionally (for causal-vs-bidirectional comparisons)."""
    previous = is_causal(model)
    set_causal(model, causal)
    try:
        yield model
    finally:
        set_causal(model, previous)


@dataclass
class FutureTokenReport:
    """How much each layer's first-position hidden state moved when only the last token changed."""

    relative_change: list[float]  # per hidden-state output: embeddings, then layer 1..L
    tolerance: float

    @property
    def sees_future(self) -> bool:
        return self.relative_change[-1] > self.tolerance

    def layers_seeing_future(self) -> list[int]:
        """Indices (1-based layers) whose first position moved; index 0 (embeddings) never should."""
        return [i for i, change in enumerate(self.relative_change) if change > self.tolerance]

    def format(self) -> str:
        """A per-layer table for the CLI."""
        lines = ["layer  relative change of position 0  sees the future"]
        for i, change in enumerate(self.relative_change):
            name = "emb" if i == 0 else str(i)
            lines.append(f"{name:>5}  {change:28.3e}  {'yes' if change > self.tolerance else 'no'}")
        return "\n".join(lines)


def _probe_ids(model: nn.Module, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Two id sequences equal but for the last token; ids come from the low vocabulary range every model has."""
    vocab = int(getattr(_configs(model)[0], "vocab_size", 0) or 0)
    if vocab < 4:
        raise TypeError(f"{type(model).__name__} has no usable vocab_size; cannot run the future-token test.")
    generator = torch.Generator().manual_seed(1234)
    high = min(vocab, 1000)
    ids = torch.randint(3, high, (1, length), generator=generator)
    changed = ids.clone()
    changed[0, -1] = 3 + (int(ids[0, -1]) - 3 + high // 2) % (high - 3)
    return ids, changed


@torch.no_grad()
def future_token_report(model: nn.Module, length: int = PROBE_LENGTH) -> FutureTokenReport:
    """Run the future-token test and report every layer's change at position 0."""
    decoder = decoder_of(model)
    try:
        device = next(decoder.parameters()).device
        dtype = next(decoder.parameters()).dtype
    except StopIteration as error:
        raise TypeError(f"{type(model).__name__} has no parameters; expected a transformers decoder.") from error
    ids, changed = _probe_ids(decoder, length)
    was_training = decoder.training
    decoder.eval()  # dropout would make position 0 change on its own
    try:
        outputs = [
            decoder(input_ids=x.to(device), attention_mask=torch.ones_like(x, device=device), output_hidden_states=True)
            for x in (ids, changed)
        ]
    finally:
        decoder.train(was_training)
    changes = []
    for a, b in zip(outputs[0].hidden_states, outputs[1].hidden_states):
        first_a, first_b = a[0, 0].float(), b[0, 0].float()  # (C,) hidden state of position 0
        changes.append(float((first_a - first_b).norm() / first_a.norm().clamp_min(1e-12)))
    return FutureTokenReport(changes, CHANGE_TOLERANCE.get(dtype, 1e-5))


def verify_bidirectional(model: nn.Module, expect_bidirectional: bool = True) -> FutureTokenReport:
    """Raise ``BidirectionalityError`` unless the model's attention is in the expected mode."""
    report = future_token_report(model)
    if report.sees_future != expect_bidirectional:
        name = type(decoder_of(model)).__name__
        if expect_bidirectional:
            raise BidirectionalityError(
                f"{name} still attends causally after setting is_causal=False: changing the last token left the first "
                f"position unchanged (relative change {report.relative_change[-1]:.2e}). Its attention does not read "
                "transformers' is_causal switch; this architecture is not supported. Per-layer report:\n"
                + report.format()
            )
        raise BidirectionalityError(
            f"{name} should be causal but its first position depends on the last token "
            f"(relative change {report.relative_change[-1]:.2e}).\n" + report.format()
        )
    return report


def make_bidirectional(model: nn.Module, verify: bool = True) -> nn.Module:
    """Turn off the causal mask of any transformers decoder (step 1 of LLM2Vec) and prove it with the verifier."""
    set_causal(model, False)
    if verify:
        verify_bidirectional(model, expect_bidirectional=True)
    return model
