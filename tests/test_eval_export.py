"""sentence-transformers export: loads without lab, stays bidirectional, pools the same way, gives the same vectors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from lab import LLM2Vec

TEXTS = ["A man is playing a guitar on the street.", "Two dogs run through the snow.", "Hi."]
INSTRUCTION = "Retrieve semantically similar text."


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module", params=["mean", "weighted_mean"])
def exported(request, tmp_path_factory):
    from sentence_transformers import SentenceTransformer

    model = LLM2Vec.from_pretrained("tiny-llama", pooling=request.param)
    path = tmp_path_factory.mktemp(f"st-{request.param}")
    model.save(path, format="sentence-transformers")
    return model, path, SentenceTransformer(str(path), device="cpu")


def test_same_embeddings_for_texts(exported):
    model, _, st = exported
    assert cosines(model.encode(TEXTS), st.encode(TEXTS, batch_size=2)).min() >= 0.9999
    pooling = json.loads((exported[1] / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode"] in ("mean", "weightedmean") and pooling["include_prompt"] is False


@pytest.mark.parametrize("batch_size", [1, 2])
def test_still_bidirectional_through_sentence_transformers_encode(exported, batch_size):
    _, _, st = exported
    texts = [["The cat sat on the mat.", "Hi there"], ["The cat sat on the dog.", "Hi there"]]
    first = [st.encode(t[:batch_size], output_value="token_embeddings", batch_size=batch_size)[0][0] for t in texts]
    assert float((first[0] - first[1]).norm() / first[0].norm()) > 0.01  # position 0 sees the last word


def test_prompts_leave_the_prompt_out_of_the_pooling_as_counted_alone(exported):
    """sentence-transformers pools from len(tokens(prompt alone)) on; a hand-built forward checks exactly that."""
    model, _, st = exported
    prompt = st.prompts["stsb-sts"]
    assert prompt == f"{INSTRUCTION} "
    got = st.encode(TEXTS, prompt_name="stsb-sts")
    skip = len(model.tokenizer(prompt)["input_ids"])  # the lone prompt ends in a space token of its own
    for text, vector in zip(TEXTS, got):
        ids = model.tokenizer(prompt + text, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            states = model.model(input_ids=ids).last_hidden_state[0, skip:]  # (T - skip, C)
        weights = torch.arange(skip + 1, ids.shape[1] + 1, dtype=torch.float32)  # positions, as sentence-transformers
        expected = (
            states.mean(0) if model.config.pooling == "mean" else (states * weights[:, None]).sum(0) / weights.sum()
        )
        np.testing.assert_allclose(vector, expected.numpy(), rtol=1e-4, atol=1e-5)
    ours = model.encode([(INSTRUCTION, t) for t in TEXTS])  # pools every text token, the first one too
    assert cosines(ours, got).min() > 0.9


def test_loads_and_encodes_without_our_package(exported, tmp_path):
    model, path, _ = exported
    script = (
        "import json, sys; from sentence_transformers import SentenceTransformer; "
        f"st = SentenceTransformer({str(path)!r}, device='cpu'); "
        f"print(json.dumps(st.encode({TEXTS!r}).tolist())); "
        "assert not any(m == 'lab' or m.startswith('lab.') for m in sys.modules), 'lab was imported'"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )  # -I: no PYTHONPATH, no current directory on the path; the timeout allows for a starved CPU
    assert run.returncode == 0, run.stderr[-2000:]
    vectors = np.asarray(json.loads(run.stdout.strip().splitlines()[-1]), dtype=np.float32)
    assert cosines(model.encode(TEXTS), vectors).min() >= 0.9999


def test_settings_sentence_transformers_cannot_reproduce_raise(tmp_path):
    with pytest.raises(ValueError, match="Pooling 'last_token' cannot be exported"):
        LLM2Vec.from_pretrained("tiny-llama", pooling="last_token").save(tmp_path / "a", format="sentence-transformers")
    with pytest.raises(ValueError, match="Template 'echo' cannot be exported"):
        LLM2Vec.from_pretrained("tiny-llama", template="echo").save(tmp_path / "b", format="sentence-transformers")
    with pytest.raises(ValueError, match="Unknown save format 'onnx'"):
        LLM2Vec.from_pretrained("tiny-llama").save(tmp_path / "c", format="onnx")
