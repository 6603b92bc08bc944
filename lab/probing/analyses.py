"""The paper's section 4 analyses for each variant: causal-vs-bidirectional similarity per layer and token position
(``lab.analysis``), and the future-token separation test (``lab.probing.future_token``)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from lab.encoder import LLM2Vec
from lab.probing.features import FeatureConfig, load_encoder
from lab.probing.future_token import Triple, future_token_separation, load_triples

logger = logging.getLogger(__name__)


def similarity_by_position(model: LLM2Vec, texts: Sequence[str], max_positions: int = 32) -> np.ndarray:
    """Mean over texts of cos(causal, bidirectional) per layer and token position -> (L+1, P); NaN past every text."""
    from lab.analysis import tokenwise_similarity

    total, count = None, np.zeros(max_positions)
    for text in texts:
        cos = tokenwise_similarity(model, text)[:, :max_positions]  # (L+1, T')
        if total is None:
            total = np.zeros((cos.shape[0], max_positions))
        total[:, : cos.shape[1]] += cos
        count[: cos.shape[1]] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count[None, :]


def run_analyses(
    model_name: str,
    variants: Sequence[str],
    texts: Sequence[str],
    triples: list[Triple] | None = None,
    max_positions: int = 32,
) -> dict:
    """Future-token separation per variant, and position-wise similarity per distinct set of weights."""
    triples = load_triples() if triples is None else triples
    out: dict = {"future_token": {}, "similarity": {}, "n_texts": len(texts), "n_triples": len(triples)}
    for variant in variants:
        encoder = load_encoder(FeatureConfig(model=model_name, variant=variant))
        separation = future_token_separation(encoder, triples)
        out["future_token"][variant] = {
            **separation.summary(),
            "separation_per_layer": separation.separation.tolist(),
            "win_rate_per_layer": separation.win_rate.tolist(),
        }
        logger.info("future-token %s: %s", variant, separation.summary())
        weights = "+".join(encoder.config.adapters) or "base"  # uni and bi share weights: one similarity curve
        if texts and weights not in out["similarity"]:
            grid = similarity_by_position(encoder, texts, max_positions)  # (L+1, P)
            out["similarity"][weights] = {
                "per_layer": np.nanmean(grid, axis=1).tolist(),
                "per_layer_position": np.where(np.isnan(grid), None, grid).tolist(),
            }
    return out


def write_analyses(result: dict, output_dir: str | os.PathLike) -> list[Path]:
    """``analyses.json`` and ``future_token.csv``; returns the paths."""
    import pandas as pd

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "analyses.json").write_text(json.dumps(result, indent=1) + "\n")
    rows = [
        {"variant": v, **{k: r[k] for k in ("layer", "separation", "win_rate", "n_triples")}}
        for v, r in result["future_token"].items()
    ]
    pd.DataFrame(rows).to_csv(out / "future_token.csv", index=False, float_format="%.4f")
    return [out / "analyses.json", out / "future_token.csv"]
