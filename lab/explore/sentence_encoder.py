"""A trained bidirectional encoder (all-MiniLM-L6-v2) run exactly as sentence-transformers runs it.

sentence-transformers' pipeline for MiniLM is Transformer -> Pooling(mean) -> Normalize: the mean over every attended
token, [CLS] and [SEP] included, then unit length. ``LLM2Vec`` pools only the text's own tokens (as the llm2vec
reference does for decoders), which is not what MiniLM was trained with, so the baseline gets its own 30 lines.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from lab.encoder import EncoderInput
from lab.models import default_device, resolve_model_path


class MeanPoolingEncoder:
    """``encode`` like ``LLM2Vec.encode`` for an encoder-only model: mean over all attended tokens, then normalise."""

    def __init__(self, model: nn.Module, tokenizer, max_length: int = 256) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.max_length = max_length

    @classmethod
    def from_pretrained(cls, name: str, max_length: int = 256, device: str | None = None) -> MeanPoolingEncoder:
        """Load a short name (``all-minilm-l6-v2``), local folder or hub id with ``AutoModel``."""
        from transformers import AutoModel, AutoTokenizer

        path = resolve_model_path(name)
        model = AutoModel.from_pretrained(path, dtype=torch.float32).to(device or default_device())
        return cls(model, AutoTokenizer.from_pretrained(path), max_length)

    @property
    def embedding_dim(self) -> int:
        return int(self.model.config.hidden_size)

    @torch.inference_mode()
    def encode(
        self, sentences: Sequence[EncoderInput], batch_size: int = 32, normalize_embeddings: bool = True, **_: object
    ) -> np.ndarray:
        """Embeddings (n, d); an (instruction, text) pair is embedded as ``instruction + " " + text``."""
        texts = [f"{item[0].strip()} {item[1]}".strip() if isinstance(item, tuple) else item for item in sentences]
        device = next(self.model.parameters()).device
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(
                texts[start : start + batch_size],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="pt",
            ).to(device)
            hidden = self.model(**batch).last_hidden_state.float()  # (B, T, C)
            mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)  # (B, C)
            out.append(torch.nn.functional.normalize(pooled, dim=-1) if normalize_embeddings else pooled)
        if not out:
            return np.zeros((0, self.embedding_dim), dtype=np.float32)
        return torch.cat(out).cpu().numpy()
