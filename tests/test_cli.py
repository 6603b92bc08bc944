"""``python -m lab`` commands, run as users run them."""

from __future__ import annotations

import subprocess
import sys

import numpy as np


def run_lab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=300)


def test_encode_writes_one_row_per_line(tmp_path):
    (tmp_path / "texts.txt").write_text("first text\n\nsecond text\nthird one\n", encoding="utf-8")
    result = run_lab(
        "encode",
        "--model",
        "tiny-llama",
        "--input",
        str(tmp_path / "texts.txt"),
        "--output",
        str(tmp_path / "emb.npy"),
        "--pooling",
        "weighted_mean",
        "--causal",
    )
    assert result.returncode == 0, result.stderr
    embeddings = np.load(tmp_path / "emb.npy")
    assert embeddings.shape == (4, 64) and embeddings.dtype == np.float32  # the blank line is row 1
    assert "Encoding" in result.stderr  # the progress bar


def test_unknown_model_is_a_one_line_error(tmp_path):
    (tmp_path / "t.txt").write_text("x\n")
    result = run_lab(
        "encode", "--model", "nope", "--input", str(tmp_path / "t.txt"), "--output", str(tmp_path / "o.npy")
    )
    assert result.returncode == 2
    assert "error: Unknown model 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_check_bidirectional_on_the_real_smollm2():
    result = run_lab("check-bidirectional", "--model", "smollm2-135m")
    assert result.returncode == 0, result.stderr
    causal, bidirectional = result.stdout.split("(bidirectional)")
    assert "=> does not see the future" in causal and "=> sees the future" in bidirectional
    rows = [line.split() for line in bidirectional.splitlines() if line.strip()[:1].isdigit()]
    assert len(rows) == 30 and all(row[-1] == "yes" for row in rows)  # SmolLM2 has 30 layers, each sees the future
