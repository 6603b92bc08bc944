"""``LLM2Vec``: a decoder-only LLM used as a text encoder (bidirectional attention + pooling), with
sentence-transformers' ``encode`` conventions.

Texts are tokenised all at once (one fast-tokenizer call), sorted by length, padded per batch with explicit position
ids (so the padding side never shifts RoPE positions), run through the bare decoder (no LM head), pooled in fp32 over
a mask of the text's own tokens, and returned in input order.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from lab.adapters import apply_adapters, check_settings, trained_settings
from lab.atomic import atomic_folder
from lab.batch import Batch, embed, forward, length_batches, pad
from lab.bidirectional import make_bidirectional, set_causal
from lab.inputs import EncoderInput, check_inputs
from lab.models import PACKAGED_MODELS, check_device, ensure_pad_token, load_model, parse_dtype
from lab.templates import check_pooling, get_template, template_features

logger = logging.getLogger(__name__)

CONFIG_NAME = "llm2vec_config.json"
ATTN_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2")
# A fast tokenizer keeps its truncation setting as state, set by every call: two threads tokenising at once could each
# undo the other's ``max_length``. Tokenisation is short next to the forward pass, so one lock costs nothing.
_TOKENIZER_LOCK = threading.Lock()


@dataclass
class EncoderConfig:
    """Everything that decides an embedding besides the weights; saved beside them by ``LLM2Vec.save``."""

    bidirectional: bool = True  # LLM2Vec step 1; False keeps the decoder causal ("Uni" in the paper)
    pooling: str = "mean"  # mean | weighted_mean | last_token (= eos_token) | bos_token
    max_length: int = 512  # longer texts are cut to this many tokens (the instruction counts too)
    attn_implementation: str = "sdpa"  # falls back to eager for architectures without SDPA (Gemma 2)
    pool_special_tokens: bool = False  # True pools [CLS]/[SEP]/BOS too, as sentence-transformers does for BERT models
    base_model: str = ""  # the name it was loaded from, for provenance
    adapters: list[str] = field(default_factory=list)  # adapters merged into the weights, in order
    template: str = ""  # [templates hook] "" | echo | prompteol: a prompt that picks the pooled tokens (templates)

    def __post_init__(self) -> None:
        for name in ("bidirectional", "pool_special_tokens"):  # "no" and "false" are truthy: never guess
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False; got {getattr(self, name)!r}.")
        check_settings({"pooling": self.pooling}, "pooling")  # a TypeError, or a ValueError listing the modes
        if self.template:  # [templates hook]
            check_pooling(self.template, self.pooling)
        if isinstance(self.max_length, bool) or not isinstance(self.max_length, int) or self.max_length < 2:
            raise ValueError(f"max_length must be an integer >= 2; got {self.max_length!r}.")
        if self.attn_implementation not in ATTN_IMPLEMENTATIONS:
            raise ValueError(
                f"Unknown attn_implementation {self.attn_implementation!r}; expected one of "
                f"{', '.join(ATTN_IMPLEMENTATIONS)}."
            )
        if not isinstance(self.adapters, list) or not all(isinstance(a, str) for a in self.adapters):
            raise TypeError(f"adapters must be a list of strings; got {self.adapters!r}.")

    @property
    def appends_eos(self) -> bool:
        return self.pooling in ("last_token", "eos_token") and not self.template  # a template pools its own token


def tokenize(tokenizer, sentences: Sequence[EncoderInput], config: EncoderConfig) -> list[dict[str, np.ndarray]]:
    """Tokenise every input in one call; each result holds ``input_ids`` and ``pool_mask`` (1-D arrays).

    An instruction is joined to its text as ``instruction.strip() + " " + text`` and, as llm2vec does, the last n
    tokens are pooled, n being the text's own token count (tokenised alone, without special tokens): so a BOS and
    the instruction are attended to but not pooled. Where the text's first word splits differently alone than after
    the space ("Someone" -> "Some" "one", but " Someone"), this takes the instruction's last token too, exactly as
    the reference does. A text cut at ``max_length`` pools its kept tokens, found by character offsets. Special
    tokens the tokenizer adds (BOS, [CLS], [SEP]) are pooled only with ``pool_special_tokens``.
    """
    pairs = check_inputs(sentences)
    if not pairs:
        return []
    if config.template:  # [templates hook] echo / PromptEOL build their own ids and pooled positions
        with _TOKENIZER_LOCK:
            return template_features(tokenizer, pairs, config.template, config.max_length)
    prefixes = [instruction.strip() for instruction, _ in pairs]
    joined = [f"{p} {text}" if p else text for p, (_, text) in zip(prefixes, pairs)]
    appends_eos = config.appends_eos
    needs_bos = config.pooling == "bos_token"
    budget = config.max_length - int(appends_eos)
    texts = [text for _, text in pairs]
    with _TOKENIZER_LOCK:  # both calls set the tokenizer's truncation state: see _TOKENIZER_LOCK
        encoded = tokenizer(
            joined,
            add_special_tokens=True,
            truncation=True,
            max_length=budget,
            return_offsets_mapping=True,
            return_attention_mask=False,
            return_special_tokens_mask=True,
        )
        own_counts = [len(x) for x in tokenizer(texts, add_special_tokens=False)["input_ids"]]  # llm2vec's n
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    if needs_bos and bos is None:
        raise ValueError("Pooling 'bos_token' needs a tokenizer with a BOS token; this one has none.")
    if appends_eos and eos is None:
        raise ValueError(f"Pooling {config.pooling!r} appends the EOS token; this tokenizer has none.")
    features = []
    rows = zip(
        encoded["input_ids"],
        encoded["offset_mapping"],
        encoded["special_tokens_mask"],
        prefixes,
        own_counts,
        strict=True,
    )
    for index, (ids, offsets, special, prefix, n_own) in enumerate(rows):
        ids = np.asarray(ids, dtype=np.int64)
        special = np.asarray(special, dtype=bool)  # BOS / [CLS] / [SEP] added by the tokenizer
        pool_mask = np.zeros(len(ids), dtype=bool)
        if len(ids) < budget:  # not cut: the last n_own non-special tokens, as llm2vec pools
            ordinary = np.flatnonzero(~special)
            pool_mask[ordinary[len(ordinary) - min(n_own, len(ordinary)) :]] = True
        else:  # cut at max_length: the text's kept tokens, by character offsets
            starts = np.asarray([start for start, _ in offsets], dtype=np.int64).reshape(-1)
            pool_mask = (starts >= len(prefix)) & ~special
            if prefix and n_own and not pool_mask.any():  # every text would get the instruction's vector
                raise ValueError(
                    f"Item {index}: the instruction leaves no token of the text within max_length="
                    f"{config.max_length} tokens; shorten the instruction or raise max_length."
                )
        if config.pool_special_tokens:  # sentence-transformers' convention: [CLS] and [SEP] count too
            pool_mask |= special
        if needs_bos:
            if len(ids) == 0 or ids[0] != bos:  # tokenizers like SmolLM2's add no BOS: prepend it
                ids = np.concatenate([[bos], ids[: config.max_length - 1]])
            pool_mask = np.zeros(len(ids), dtype=bool)
            pool_mask[0] = True  # pool exactly the BOS
        if appends_eos:
            ids = np.concatenate([ids, [eos]])
            pool_mask = np.zeros(len(ids), dtype=bool)
            pool_mask[-1] = True  # pool exactly the appended EOS
        if not pool_mask.any():  # e.g. an empty text after an instruction: fall back to every token
            pool_mask = np.ones(len(ids), dtype=bool)
        features.append({"input_ids": ids, "pool_mask": pool_mask})
    return features


class LLM2Vec:
    """A decoder-only LLM as a text encoder.

    Args:
        model: the bare decoder (``AutoModel``), already bidirectional or causal as ``config`` says.
        tokenizer: its fast tokenizer.
        config: pooling, attention mode and length limit.
    """

    def __init__(self, model: nn.Module, tokenizer, config: EncoderConfig) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.config = config
        ensure_pad_token(tokenizer)

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def from_pretrained(
        cls,
        model_name_or_path: str | os.PathLike,
        bidirectional: bool | None = None,
        pooling: str | None = None,
        max_length: int | None = None,
        dtype: str | torch.dtype | None = None,
        device: str | torch.device | None = None,
        adapters: Sequence[str | os.PathLike] = (),
        attn_implementation: str | None = None,
        template: str | None = None,
    ) -> LLM2Vec:
        """Load a model by short name, local folder or hub id, apply LoRA adapters in order, set attention and pooling.

        Each setting comes from, in order of precedence: the argument, the settings the adapters were trained with
        (``llm2vec_adapter.json``: attention mode and pooling), the model's saved ``llm2vec_config.json``, the packaged
        model's defaults, ``EncoderConfig``'s defaults. dtype/device ``None``: bf16 on a GPU, fp32 on a CPU.
        """
        name = str(model_name_or_path)
        if isinstance(adapters, (str, os.PathLike)):
            raise TypeError(
                f"adapters must be a list of names or folders; got the string {str(adapters)!r}; "
                f"did you mean [{str(adapters)!r}]?"
            )
        adapters = [str(a) for a in adapters]
        saved = cls._saved_config(name)
        values = {**(PACKAGED_MODELS[name].encoder_defaults if name in PACKAGED_MODELS else {})}
        values.update(asdict(saved) if saved else {})
        values["base_model"] = values.get("base_model") or name
        values.update(trained_settings(adapters, values["base_model"]))
        explicit = dict(bidirectional=bidirectional, pooling=pooling, max_length=max_length)
        values.update({k: v for k, v in explicit.items() if v is not None})
        if attn_implementation is not None:
            values["attn_implementation"] = attn_implementation
        if template is not None:  # [templates hook] "" | echo | prompteol
            values["template"] = template
        if template and pooling is None:  # [templates hook] a template brings its own pooling
            values["pooling"] = get_template(template).poolings[0]
        config = EncoderConfig(**values)
        device = check_device(device)
        torch_dtype = parse_dtype(dtype, device)

        model, tokenizer = load_model(name, dtype=torch_dtype, attn_implementation=config.attn_implementation)
        model = model.to(device).eval()
        if adapters:
            model = apply_adapters(model, adapters, base_name=config.base_model)
            config.adapters = list(config.adapters) + adapters
        return cls.from_model(model, tokenizer, config)

    @classmethod
    def from_model(cls, model: nn.Module, tokenizer, config: EncoderConfig | None = None) -> LLM2Vec:
        """Wrap an in-memory decoder (e.g. one being trained); sets and verifies its attention mode."""
        config = config or EncoderConfig()
        if config.bidirectional:
            make_bidirectional(model)
        else:
            set_causal(model, True)
        return cls(model, tokenizer, config)

    @staticmethod
    def _saved_config(name: str) -> EncoderConfig | None:
        """The folder's ``llm2vec_config.json``, strictly typed; a folder without one loads with a warning."""
        folder = Path(name).expanduser()
        path = folder / CONFIG_NAME
        if not path.is_file():
            if folder.is_dir():
                logger.warning(
                    "%s has no %s: not saved by LLM2Vec.save, so the defaults apply (bidirectional, mean pooling); "
                    "pass bidirectional= and pooling= to be explicit.",
                    folder,
                    CONFIG_NAME,
                )
            return None
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            known = {f.name for f in fields(EncoderConfig)}
            return EncoderConfig(**{k: v for k, v in stored.items() if k in known})
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}); save the model again.") from None
        except (TypeError, ValueError) as error:
            raise type(error)(f"{path}: {error}") from None

    def save(self, path: str | os.PathLike, format: str = "llm2vec", prompts: dict[str, str] | None = None) -> None:
        """Write weights (adapters merged), tokenizer and ``llm2vec_config.json``; ``from_pretrained(path)`` reloads.

        Atomic: everything is written into a temporary folder beside ``path`` that is then renamed into place, so
        ``path`` is always either the previous complete save or the new one. ``format="sentence-transformers"`` writes
        a folder that ``SentenceTransformer(path)`` loads (``lab.export``), with ``prompts`` (default: the lab's task
        instructions).
        """
        if format == "sentence-transformers":  # [export hook]
            from lab.export import save_sentence_transformers

            save_sentence_transformers(self, path, prompts)
            return
        if format != "llm2vec":
            raise ValueError(f"Unknown save format {format!r}; expected 'llm2vec' or 'sentence-transformers'.")
        with atomic_folder(path) as tmp:
            (tmp / CONFIG_NAME).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)

    # ------------------------------------------------------------------ properties
    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def embedding_dim(self) -> int:
        return int(self.model.config.hidden_size)

    def __repr__(self) -> str:
        mode = "bidirectional" if self.config.bidirectional else "causal"
        template = f", template={self.config.template}" if self.config.template else ""  # [templates hook]
        return (
            f"LLM2Vec({self.config.base_model!r}, {mode}, pooling={self.config.pooling}{template}, "
            f"dim={self.embedding_dim})"
        )

    # ------------------------------------------------------------------ the batch path (module functions below)
    def tokenize(self, sentences: Sequence[EncoderInput]) -> list[dict[str, np.ndarray]]:
        """``tokenize`` with this encoder's tokenizer and config."""
        return tokenize(self.tokenizer, sentences, self.config)

    def collate(self, features: Sequence[dict[str, np.ndarray]], padding_side: str = "right") -> Batch:
        """``pad`` with this tokenizer's pad token."""
        return pad(features, self.tokenizer.pad_token_id, padding_side)

    def forward(self, batch: Batch, output_hidden_states: bool = False):
        """``forward`` on this model's device; returns the transformers output (``last_hidden_state``, ...)."""
        return forward(self.model, batch.to(self.device), output_hidden_states)

    def embed_batch(self, batch: Batch) -> torch.Tensor:
        """Pooled fp32 embeddings of one batch, with gradients if the caller is training. -> (B, C)."""
        return embed(self.model, batch.to(self.device), self.config.pooling)

    # ------------------------------------------------------------------ encode
    @torch.inference_mode()
    def encode(
        self,
        sentences: str | Sequence[EncoderInput],
        batch_size: int = 32,
        show_progress_bar: bool | None = None,
        convert_to_numpy: bool = True,
        convert_to_tensor: bool = False,
        normalize_embeddings: bool = False,
        padding_side: str = "right",
        max_tokens_per_batch: int | None = None,
    ) -> np.ndarray | torch.Tensor:
        """Embed texts or (instruction, text) pairs, following sentence-transformers' ``encode``.

        Args:
            sentences: a string (gives a 1-D vector) or a list of strings / (instruction, text) pairs.
            batch_size: texts per forward pass; results do not depend on it.
            show_progress_bar: a tqdm bar over batches (default: only when logging at INFO or below).
            convert_to_numpy: float32 numpy output (the default).
            convert_to_tensor: a torch tensor on the model's device instead.
            normalize_embeddings: unit-length vectors, so a dot product is the cosine.
            padding_side: "right" or "left"; results do not depend on it.
            max_tokens_per_batch: batch by token budget instead: each batch holds as many texts as keep rows x its
                longest text within this many tokens (``batch_size`` is then unused); results do not depend on it.

        Returns:
            An array (n, d), or (d,) for a single string; (0, d) for an empty list. Texts longer than
            ``max_length`` tokens are truncated.
        """
        if sentences is None:
            raise TypeError("sentences is None; expected a string or a list of strings / (instruction, text) pairs.")
        single = isinstance(sentences, str)
        if not single and not isinstance(sentences, (list, tuple)) and not hasattr(sentences, "__iter__"):
            raise TypeError(
                f"sentences is {sentences!r} ({type(sentences).__name__}); expected a string or a list of strings / "
                "(instruction, text) pairs."
            )
        items = [sentences] if single else list(sentences)
        checked = {"batch_size": batch_size} | (
            {} if max_tokens_per_batch is None else {"max_tokens_per_batch": max_tokens_per_batch}
        )
        for name, value in checked.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer; got {value!r}.")
        if show_progress_bar is None:
            show_progress_bar = logger.getEffectiveLevel() <= logging.INFO
        was_training = self.model.training
        self.model.eval()
        features = self.tokenize(items)
        batches = length_batches([len(f["input_ids"]) for f in features], batch_size, max_tokens_per_batch)
        out = torch.empty((len(items), self.embedding_dim), dtype=torch.float32, device=self.device)
        try:
            for index in tqdm(batches, desc="Encoding", disable=not show_progress_bar, unit="batch"):
                batch = self.collate([features[i] for i in index], padding_side=padding_side)
                out[torch.as_tensor(index, device=self.device)] = self.embed_batch(batch)
        finally:
            self.model.train(was_training)
        if normalize_embeddings:
            out = torch.nn.functional.normalize(out, dim=-1)
        if single:
            out = out[0]
        if convert_to_tensor:
            return out
        return out.cpu().numpy() if convert_to_numpy else out.cpu()

    @staticmethod
    def similarity(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
        """Cosine similarity matrix (n, m) between rows of ``a`` (n, d) and ``b`` (m, d); 1-D inputs count as one row.

        Returns a numpy array for numpy inputs, a tensor for tensors.
        """
        as_numpy = isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        ta = torch.as_tensor(np.asarray(a) if isinstance(a, np.ndarray) else a).float()
        tb = torch.as_tensor(np.asarray(b) if isinstance(b, np.ndarray) else b).float().to(ta.device)
        ta, tb = ta.reshape(-1, ta.shape[-1]), tb.reshape(-1, tb.shape[-1])
        sims = torch.nn.functional.normalize(ta, dim=-1) @ torch.nn.functional.normalize(tb, dim=-1).T  # (n, m)
        return sims.cpu().numpy() if as_numpy else sims
