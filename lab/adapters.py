"""LoRA adapters: resolve short names of the adapters shipped in ``lab/adapters/``, check each against the model it is
merged into, read the encoder settings it was trained with, and merge adapters in order.

Adapters are trained on the bare decoder (``AutoModel``), so they load straight onto the encoder's model. Each one is
merged before the next is applied: LLM2Vec's SimCSE adapter was trained on top of the merged MNTP weights.

Beside peft's files, a trained adapter holds ``llm2vec_adapter.json``: its base model and architecture (checked when it
is merged) and the encoder settings training used. ``bidirectional`` and ``pooling`` are applied when it is loaded (an
explicit argument still wins); the training length is recorded only, since the paper trains on short texts (SimCSE: 32
tokens here) and encodes up to 512.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Sequence

from torch import nn

from lab.pooling import canonical_pooling

logger = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).parent / "adapters"
SETTINGS_NAME = "llm2vec_adapter.json"
APPLIED_SETTINGS = ("bidirectional", "pooling")  # encoder settings an adapter brings; the rest is provenance


def write_settings(folder: str | os.PathLike, **settings: Any) -> Path:
    """Write ``llm2vec_adapter.json`` (base_model, model_type, bidirectional, pooling, max_seq_length, ...)."""
    check_settings(settings, SETTINGS_NAME)
    path = Path(folder) / SETTINGS_NAME
    path.write_text(json.dumps({k: v for k, v in settings.items() if v is not None}, indent=2) + "\n")
    return path


def check_settings(settings: dict[str, Any], source: str) -> dict[str, Any]:
    """Strict types: a boolean is ``true``/``false``, never a string; ``TypeError``/``ValueError`` name the source."""
    if "bidirectional" in settings and not isinstance(settings["bidirectional"], bool):
        raise TypeError(f"{source}: bidirectional must be True or False; got {settings['bidirectional']!r}.")
    if "pooling" in settings:
        if not isinstance(settings["pooling"], str):
            raise TypeError(f"{source}: pooling must be a string; got {settings['pooling']!r}.")
        try:
            canonical_pooling(settings["pooling"])
        except ValueError as error:
            raise ValueError(f"{source}: {error}") from None
    return settings


def read_settings(folder: Path) -> dict[str, Any]:
    """The adapter's ``llm2vec_adapter.json`` (empty for adapters trained before it existed)."""
    path = folder / SETTINGS_NAME
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); delete it or retrain the adapter.") from None
    if not isinstance(settings, dict):
        raise ValueError(f"{path} must hold a JSON object; got {type(settings).__name__}.")
    return check_settings(settings, str(path))


def trained_settings(adapters: Sequence[str], base_name: str) -> dict[str, Any]:
    """The encoder settings the adapters were trained with, merged; two adapters that disagree are an error."""
    merged: dict[str, tuple[Any, str]] = {}
    for adapter in adapters:
        settings = read_settings(resolve_adapter(adapter, base_name))
        for key in APPLIED_SETTINGS:
            if key not in settings:
                continue
            if key in merged and merged[key][0] != settings[key]:
                value, first = merged[key]
                raise ValueError(
                    f"Stacked adapters disagree on {key}: {first!r} says {value!r} but {adapter!r} says "
                    f"{settings[key]!r}. Pass {key}=... explicitly to choose."
                )
            merged[key] = (settings[key], adapter)
    return {key: value for key, (value, _) in merged.items()}


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


def _known_name(name: str) -> bool:
    """A short name that always means the same weights (``tiny-llama``, ``smollm2-135m``), unlike a folder."""
    from lab.models import PACKAGED_MODELS

    return name.startswith("tiny-") or name in PACKAGED_MODELS


def check_against_base(model: nn.Module, folder: Path, base_name: str) -> None:
    """Refuse an adapter trained on another base: by architecture, base name, and every LoRA module's shape.

    peft merges whatever module names happen to match and skips the rest, so a llama adapter "loads" onto mistral
    (same names and shapes) or onto phi3 (only o_proj / down_proj match); both must be errors.
    """
    from safetensors import safe_open

    config = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    if "peft_type" not in config:
        raise ValueError(f"{folder / 'adapter_config.json'} has no 'peft_type': this is not a peft adapter folder.")
    settings = read_settings(folder)
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if settings.get("model_type") and model_type and settings["model_type"] != model_type:
        raise ValueError(
            f"Adapter {str(folder)!r} was trained on architecture {settings['model_type']!r} "
            f"({settings.get('base_model', '?')}); this model is {model_type!r} ({base_name}). Use its own base model."
        )
    trained_on = settings.get("base_model") or config.get("base_model_name_or_path") or ""
    if trained_on and _known_name(trained_on) and _known_name(base_name) and trained_on != base_name:
        raise ValueError(
            f"Adapter {str(folder)!r} was trained on {trained_on!r}, not {base_name!r}: its weights belong to "
            "another model. Load it with that base model."
        )
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        return  # peft reports a missing weights file itself
    modules = dict(model.named_modules())
    missing, wrong = [], []
    with safe_open(str(weights), framework="pt") as handle:
        for key in handle.keys():
            if ".lora_A." not in key and ".lora_B." not in key:
                continue
            name = key.removeprefix("base_model.model.").split(".lora_")[0]
            module = modules.get(name)
            if module is None or not hasattr(module, "weight"):
                missing.append(name)
                continue
            shape = handle.get_slice(key).get_shape()  # lora_A: (r, in); lora_B: (out, r)
            out_features, in_features = module.weight.shape
            if (".lora_A." in key and shape[1] != in_features) or (".lora_B." in key and shape[0] != out_features):
                wrong.append(f"{name} {tuple(shape)} vs {tuple(module.weight.shape)}")
    if missing:
        kinds = sorted({m.rsplit(".", 1)[-1] for m in missing})
        raise ValueError(
            f"Adapter {str(folder)!r} targets modules this model does not have ({', '.join(kinds)}; e.g. "
            f"{missing[0]}): it was trained on another architecture than {base_name!r}."
        )
    if wrong:
        raise ValueError(
            f"Adapter {str(folder)!r} does not fit {base_name!r}: shapes differ at {', '.join(wrong[:3])}."
        )


def apply_adapters(model: nn.Module, adapters: list[str], base_name: str) -> nn.Module:
    """Check each LoRA adapter against ``model``, load it and merge it into the weights, in order."""
    from peft import PeftModel

    for adapter in adapters:
        path = resolve_adapter(adapter, base_name)
        logger.info("Merging adapter %s", path)
        check_against_base(model, path, base_name)
        grow_embeddings_for(model, path)
        model = PeftModel.from_pretrained(model, str(path)).merge_and_unload()
    return model
