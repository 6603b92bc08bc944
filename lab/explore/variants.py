"""The encoders the app compares, as a data table: one ``Variant`` per row, with why a row is unavailable.

A variant is a recipe (model, attention mode, pooling, adapters), not a loaded model: ``lab.explore.engine`` loads it
on first use. The default table is the paper's ladder on the packaged SmolLM2 (causal, bidirectional, +MNTP, +SimCSE)
plus all-MiniLM-L6-v2, a classic sentence encoder, as the baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.adapters import SHIPPED_DIR, resolve_adapter
from lab.models import PACKAGED_MODELS, package_dir
from lab.pooling import canonical_pooling


@dataclass(frozen=True)
class Variant:
    """One encoder to compare: a model, its attention mode, its default pooling and the adapters merged in order."""

    label: str  # shown in the page; unique within a table
    model: str = "smollm2-135m"  # short name, local folder or hub id (see lab.models)
    bidirectional: bool = True
    pooling: str = "mean"  # the default; the page may override it for decoder variants
    adapters: tuple[str, ...] = ()
    max_length: int = 512  # tokens; MiniLM was trained with 256
    encoder_only: bool = False  # a trained bidirectional encoder (MiniLM): fixed pooling, no causal-vs-bi plot
    note: str = ""  # one line for the page

    def __post_init__(self) -> None:
        canonical_pooling(self.pooling)
        if not self.label.strip():
            raise ValueError("A variant needs a non-empty label.")

    @property
    def weights_key(self) -> tuple[str, tuple[str, ...]]:
        """Variants with the same key have the same weights (they may differ in attention mode or pooling)."""
        return (self.model, self.adapters)

    @property
    def model_key(self) -> tuple[str, tuple[str, ...], bool, int]:
        """One loaded model per key: merged adapters change the weights, the attention mode changes the model."""
        return (self.model, self.adapters, self.bidirectional, self.max_length)

    def effective_pooling(self, override: str | None) -> str:
        """The pooling used when the page asks for ``override`` (``None`` or "default" keeps the variant's own)."""
        if self.encoder_only or override in (None, "", DEFAULT_POOLING):
            return self.pooling
        canonical_pooling(override)
        return override


DEFAULT_POOLING = "variant default"
BASE_MODEL = "smollm2-135m"
MINILM = "all-minilm-l6-v2"


def default_variants(base: str = BASE_MODEL) -> list[Variant]:
    """The paper's ladder on ``base`` (Uni, Bi, Bi+MNTP, LLM2Vec) and the MiniLM baseline."""
    return [
        Variant(
            "Uni (causal, weighted mean)",
            base,
            bidirectional=False,
            pooling="weighted_mean",
            note="the decoder as it ships: causal attention, later tokens weigh more",
        ),
        Variant("Bi (no training)", base, note="causal mask removed, nothing trained"),
        Variant("Bi+MNTP", base, adapters=("mntp",), note="bidirectional + masked next-token prediction"),
        Variant(
            "LLM2Vec (Bi+MNTP+SimCSE)",
            base,
            adapters=("mntp", "mntp-simcse"),
            note="+ unsupervised contrastive training: the full recipe",
        ),
        Variant(
            "MiniLM",
            MINILM,
            max_length=256,
            encoder_only=True,
            note="all-MiniLM-L6-v2, a trained sentence encoder (mean pooling)",
        ),
    ]


def tiny_variants() -> list[Variant]:
    """Random tiny decoders and MiniLM: the page in seconds, for tests and UI work (the numbers mean nothing)."""
    return [
        Variant("Tiny Uni", "tiny-llama", bidirectional=False, pooling="weighted_mean", note="random tiny Llama"),
        Variant("Tiny Bi", "tiny-llama", note="random tiny Llama, bidirectional"),
        Variant("Tiny Qwen2 Bi", "tiny-qwen2", note="random tiny Qwen2, bidirectional"),
        Variant("Tiny +missing adapter", "tiny-llama", adapters=("no-such-adapter",), note="never trained"),
        Variant("MiniLM", MINILM, max_length=256, encoder_only=True, note="all-MiniLM-L6-v2"),
    ]


def _adapter_exists(adapter: str, base: str) -> bool:
    try:
        resolve_adapter(adapter, base)
    except ValueError:
        return False
    return True


def unavailable_reason(variant: Variant) -> str | None:
    """Why a variant cannot load (a missing adapter or data package), or ``None`` when it can."""
    if variant.adapters:
        missing = [a for a in variant.adapters if not _adapter_exists(a, variant.model)]
        if missing:
            return (
                f"adapter {', '.join(missing)} for {variant.model} is not trained yet "
                f"(expected in lab/{SHIPPED_DIR.name}/{variant.model}/{missing[0]}/)"
            )
    if variant.model in PACKAGED_MODELS:
        try:
            package_dir(variant.model)
        except ValueError as error:
            return str(error)
    return None
