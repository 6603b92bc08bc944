"""LoRA adapters: resolve short names of the adapters shipped in ``lab/adapters/`` and merge adapters in order.

Adapters are trained on the bare decoder (``AutoModel``), so they load straight onto the encoder's model. Each one is
merged before the next is applied: LLM2Vec's SimCSE adapter was trained on top of the merged MNTP weights.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from torch import nn

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).parent / "adapters"


def shipped_adapters(base_name: str) -> dict[str, Path]:
    """Short name -> folder of the adapters shipped for a base model (e.g. ``smollm2-135m``: mntp, mntp-simcse)."""
    folder = SHIPPED_DIR / base_name
    if not folder.is_dir():
        return {}
    return {p.name: p for p in sorted(folder.iterdir()) if (p / "adapter_config.json").is_file()}


def resolve_adapter(adapter: str, base_name: str) -> Path:
    """A shipped short name or a folder holding ``adapter_config.json``; ``ValueError`` lists the choices."""
    shipped = shipped_adapters(base_name)
    if adapter in shipped:
        return shipped[adapter]
    path = Path(adapter).expanduser()
    if (path / "adapter_config.json").is_file():
        return path
    names = ", ".join(shipped) or "none"
    raise ValueError(
        f"Unknown adapter {adapter!r}: not a folder with adapter_config.json, and not a shipped adapter of "
        f"{base_name!r} (shipped: {names})."
    )


def grow_embeddings_for(model: nn.Module, adapter_dir: Path) -> None:
    """Make room for token rows an adapter trained (a new ``<mask>`` token) before loading it.

    Such a token never occurs in the texts we encode, so the base tokenizer stays as it is; only the embedding matrix
    must have the shape the adapter was saved with.
    """
    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    indices = [i for ids in (config.get("trainable_token_indices") or {}).values() for i in ids]
    rows = model.get_input_embeddings().num_embeddings
    if indices and max(indices) >= rows:
        model.resize_token_embeddings(max(indices) + 1)


def apply_adapters(model: nn.Module, adapters: list[str], base_name: str) -> nn.Module:
    """Load each LoRA adapter onto ``model`` and merge it into the weights, in order; returns the merged model."""
    from peft import PeftModel

    for adapter in adapters:
        path = resolve_adapter(adapter, base_name)
        logger.info("Merging adapter %s", path)
        grow_embeddings_for(model, path)
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    return model
