"""scripts/gpu_recipe.sh, the paper's recipe for one GPU, run end to end on a CPU with tiny settings (same commands)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_gpu_recipe_chains_every_stage(tmp_path):
    out = tmp_path / "recipe"
    env = {**os.environ, "MODEL": "tiny-llama", "QUICK": "1", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_recipe.sh"), str(out)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-3000:]
    mntp = json.loads((out / "mntp" / "metrics.json").read_text())
    simcse = json.loads((out / "simcse" / "metrics.json").read_text())
    assert mntp["global_step"] == 2 and mntp["peak_memory_gb"] > 0 and mntp["train_tokens_per_second"] > 0
    # SimCSE trained on top of the MNTP run just made, and ended on the checkpoint best on STS-B dev
    assert json.loads((out / "simcse" / "run_config.json").read_text())["adapters"] == [str(out / "mntp")]
    assert simcse["best_checkpoint"].endswith("checkpoint-2")
    for name in ("uni", "bi", "bi-mntp", "llm2vec"):
        record = json.loads((out / "sts" / f"{name}.json").read_text())
        assert set(record["results"]) == {"dev", "test"} and record["limit"] == 16
    assert json.loads((out / "sts" / "llm2vec.json").read_text())["adapters"] == [
        str(out / "mntp"),
        str(out / "simcse"),
    ]
    probes = json.loads((out / "probing" / "probe_results.json").read_text())
    assert set(probes["settings"]["variants"]) == {"uni", "bi", "bi-mntp", "bi-mntp-simcse"}
    assert probes["settings"]["adapter_paths"] == {"mntp": str(out / "mntp"), "mntp-simcse": str(out / "simcse")}
    assert "mntp: 2 steps" in done.stdout and "STS-B llm2vec: dev" in done.stdout
