"""The encoders the suite compares, in one table (short name -> recipe); ``--variants`` picks from it.

[variants table] When the shared ``lab/variants.py`` table lands, this module becomes a thin view of it: only
``SUITE_VARIANTS`` and ``load_variant`` are used by the rest of ``lab.evaluation``.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.pooling import canonical_pooling

BASE = "smollm2-135m"
MINILM = "all-minilm-l6-v2"


@dataclass(frozen=True)
class SuiteVariant:
    """One encoder recipe: model, attention, pooling, adapters merged in order, and a prompt template."""

    name: str  # the short name on the command line
    label: str  # the row label in tables and figures
    model: str = BASE
    bidirectional: bool = True
    pooling: str = "mean"
    adapters: tuple[str, ...] = ()
    template: str = ""  # "" | echo | prompteol (lab.templates)
    max_length: int = 512
    instructions: bool = True  # False: the task instructions are not given (MiniLM was never trained with any)

    def __post_init__(self) -> None:
        canonical_pooling(self.pooling)


def _ladder(prefix: str, model: str, adapters: bool) -> list[SuiteVariant]:
    """The paper's ladder and the two training-free causal baselines on ``model``."""
    tag = "Tiny " if prefix else ""
    rows = [
        SuiteVariant(f"{prefix}uni", f"{tag}Uni (causal, weighted mean)", model, False, "weighted_mean"),
        SuiteVariant(f"{prefix}bi", f"{tag}Bi (no training)", model),
        SuiteVariant(f"{prefix}echo", f"{tag}Echo (causal, 2nd copy)", model, False, "mean", template="echo"),
        SuiteVariant(
            f"{prefix}prompteol", f"{tag}PromptEOL (causal)", model, False, "last_token", template="prompteol"
        ),
    ]
    if adapters:
        rows[2:2] = [
            SuiteVariant(f"{prefix}bi-mntp", f"{tag}Bi+MNTP", model, adapters=("mntp",)),
            SuiteVariant(f"{prefix}llm2vec", f"{tag}LLM2Vec (Bi+MNTP+SimCSE)", model, adapters=("mntp", "mntp-simcse")),
        ]
    return rows


SUITE_VARIANTS: dict[str, SuiteVariant] = {
    v.name: v
    for v in [
        *_ladder("", BASE, adapters=True),
        SuiteVariant("minilm", "MiniLM (supervised reference)", MINILM, max_length=256, instructions=False),
        *_ladder("tiny-", "tiny-llama", adapters=False),  # random weights: for tests, the numbers mean nothing
    ]
}
ALIASES = {"bi-mntp-simcse": "llm2vec"}  # the probe command's name for the full recipe
DEFAULT_VARIANTS = ("uni", "bi", "bi-mntp", "llm2vec", "echo", "prompteol", "minilm")


def get_variants(names: list[str]) -> list[SuiteVariant]:
    """Variants by short name; ``ValueError`` lists the valid names."""
    names = [ALIASES.get(n, n) for n in names]
    unknown = [n for n in names if n not in SUITE_VARIANTS]
    if unknown:
        raise ValueError(f"Unknown variant(s) {', '.join(unknown)}; expected some of {', '.join(SUITE_VARIANTS)}.")
    return [SUITE_VARIANTS[n] for n in names]


def load_variant(variant: SuiteVariant, dtype: str | None = None, device: str | None = None):
    """The ``LLM2Vec`` of a variant."""
    from lab.encoder import LLM2Vec

    return LLM2Vec.from_pretrained(
        variant.model,
        bidirectional=variant.bidirectional,
        pooling=variant.pooling,
        max_length=variant.max_length,
        adapters=list(variant.adapters),
        template=variant.template or None,
        dtype=dtype,
        device=device,
    )
