"""Which rows of the one variant table (``lab.variants``) the app offers, bound to a model, and why one cannot load.

The app keeps no table of its own: the default page is the paper's ladder on the packaged SmolLM2 plus the MiniLM
reference, every row read from ``lab.variants``; the tiny tables (tests, UI work) are the same rows bound to random
tiny models. ``lab.explore.engine`` loads a row on first use.
"""

from __future__ import annotations

from lab.adapters import SHIPPED_DIR, resolve_adapter
from lab.models import PACKAGED_MODELS, package_dir
from lab.pooling import canonical_pooling
from lab.variants import REFERENCES, VARIANTS, Variant

DEFAULT_POOLING = "variant default"
BASE_MODEL = "smollm2-135m"
TINY_NOTE = "random weights: the numbers mean nothing"


def weights_key(variant: Variant) -> tuple[str | None, tuple[str, ...]]:
    """Variants with the same key have the same weights (they may differ in attention mode or pooling)."""
    return (variant.model, variant.adapters)


def model_key(variant: Variant) -> tuple[str | None, tuple[str, ...], bool, int]:
    """One loaded model per key: merged adapters change the weights, the attention mode changes the model."""
    return (variant.model, variant.adapters, variant.bidirectional, variant.max_length)


def effective_pooling(variant: Variant, override: str | None) -> str:
    """The pooling used when the page asks for ``override`` (``None`` or the default keeps the variant's own)."""
    if variant.encoder_only or override in (None, "", DEFAULT_POOLING):
        return variant.pooling
    return canonical_pooling(override)


def default_variants(base: str = BASE_MODEL) -> list[Variant]:
    """The paper's ladder on ``base`` (Uni, Bi, Bi+MNTP, LLM2Vec) and the MiniLM reference."""
    return [v.on(base) for v in VARIANTS.values()] + list(REFERENCES.values())


def tiny_variants() -> list[Variant]:
    """The ladder's rows on random tiny decoders, and MiniLM: the page in seconds, for tests and UI work."""
    uni, bi, mntp = VARIANTS["uni"], VARIANTS["bi"], VARIANTS["bi-mntp"]
    return [
        uni.on("tiny-llama", name="tiny-uni", label="Tiny Uni", note=f"Uni on a tiny Llama ({TINY_NOTE})"),
        bi.on("tiny-llama", name="tiny-bi", label="Tiny Bi", note=f"Bi on a tiny Llama ({TINY_NOTE})"),
        bi.on("tiny-qwen2", name="tiny-qwen2-bi", label="Tiny Qwen2 Bi", note=f"Bi on a tiny Qwen2 ({TINY_NOTE})"),
        mntp.on(
            "tiny-llama",
            name="tiny-missing",
            label="Tiny +missing adapter",
            adapters=("no-such-adapter",),
            note="an adapter that was never trained",
        ),
        REFERENCES["minilm"],
    ]


def _adapter_exists(adapter: str, base: str) -> bool:
    try:
        resolve_adapter(adapter, base)
    except ValueError:
        return False
    return True


def unavailable_reason(variant: Variant) -> str | None:
    """Why a variant cannot load (no model, a missing adapter or data package), or ``None`` when it can."""
    if variant.model is None:
        return f"variant {variant.name!r} is a recipe without a model; bind it with .on(model)"
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
