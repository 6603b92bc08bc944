"""A real package: a wheel built from the sources installs into a fresh venv and runs without the repository."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], Path, Path]:
    """(venv, env, work dir, wheel): the wheel in a new venv whose only other path is the pinned dependencies."""
    tmp = tmp_path_factory.mktemp("package")
    source = tmp / "src"  # a copy, so the build never writes build/ or *.egg-info into the repository
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "lab", source / "lab", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1", OMP_NUM_THREADS="1")
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp / "dist"), str(source)], tmp, env)
    (wheel,) = (tmp / "dist").glob("llm2vec_lab-*.whl")
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp, env)
    _run([*pip, "--python", str(venv / "bin" / "python"), "install", "--no-deps", "-q", str(wheel)], tmp, env)
    # Dependencies come from the lab's own environment, added as a plain path: its .pth hooks (the editable install
    # of this repository among them) are not run, so `lab` can only come from the wheel.
    (site,) = (venv / "lib").glob("python3*/site-packages")
    (site / "lab_dependencies.pth").write_text(str(Path(torch.__file__).resolve().parents[1]) + "\n")
    work = tmp / "work"
    work.mkdir()
    return venv, env, work, wheel


@pytest.mark.slow
def test_wheel_ships_the_code_the_adapters_and_the_data(installed):
    names = set(zipfile.ZipFile(installed[3]).namelist())
    assert "lab/training/mntp.py" in names and "lab/data/future_token_triples.jsonl" in names
    assert "lab/adapters/smollm2-135m/mntp-simcse/adapter_model.safetensors" in names
    assert not any(n.startswith(("tests/", "notebooks/", "app.py")) for n in names)


@pytest.mark.slow
def test_installed_wheel_runs_the_console_script_without_the_repository(installed):
    venv, env, work, _ = installed
    python, script = str(venv / "bin" / "python"), str(venv / "bin" / "llm2vec-lab")
    probe = "import lab, lab.probing.future_token as f; print(lab.__file__, len(f.load_triples()))"
    where = _run([python, "-c", probe], work, env)
    location, n_triples = where.stdout.split()
    assert Path(location).resolve().is_relative_to(venv.resolve()) and int(n_triples) > 0
    check = _run([script, "check-bidirectional", "--model", "tiny-llama"], work, env)
    assert "(causal)" in check.stdout and "=> sees the future" in check.stdout
    assert check.stdout.count("=> does not see the future") == 1  # only the causal pass


@pytest.mark.slow
def test_installed_wheel_encodes_with_a_shipped_adapter(installed, tmp_path):
    from lab import LLM2Vec

    venv, env, work, _ = installed
    texts = ["A man is playing a guitar.", "Stock markets fell sharply."]
    (work / "texts.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    command = [str(venv / "bin" / "llm2vec-lab"), "encode", "--model", "smollm2-135m", "--adapters", "mntp"]
    _run([*command, "--input", "texts.txt", "--output", "emb.npy"], work, env)
    got = np.load(work / "emb.npy")
    expected = LLM2Vec.from_pretrained("smollm2-135m", adapters=["mntp"], device="cpu").encode(texts)
    np.testing.assert_array_equal(got, expected)  # the shipped adapter came with the wheel, bit for bit
