"""The MNTP probe curve: checkpoints read with their token counts, each probed with its own adapter at both shifts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab.probing.curve import curve_figure, pick, probe_curve, run_checkpoints
from lab.probing.features import FeatureConfig, extract_features
from lab.probing.probe import ProbeConfig


@pytest.fixture(scope="module")
def mntp_run(tmp_path_factory):
    """A 4-step tiny MNTP run with checkpoints at steps 2 and 4."""
    from lab.training.config import build_config
    from lab.training.mntp import MNTPConfig, train_mntp

    out = tmp_path_factory.mktemp("mntp") / "run"
    config = build_config(
        MNTPConfig,
        dict(
            model="tiny-llama",
            output_dir=str(out),
            max_documents=12,
            max_seq_length=32,
            per_device_train_batch_size=4,
            max_steps=4,
            save_steps=2,
            eval_steps=0,
            eval_at_start=False,
            learning_rate=5e-2,
            seed=0,
            disable_tqdm=True,
        ),
    )
    train_mntp(config)
    return out


@pytest.fixture(scope="module")
def splits():
    from lab.probing.experiment import load_splits

    return load_splits({"train": 60, "valid": 20, "test": 30})


def test_checkpoints_carry_steps_and_tokens_seen(mntp_run):
    checkpoints = run_checkpoints(mntp_run)
    assert [c.step for c in checkpoints] == [2, 4]
    for c in checkpoints:
        state = json.loads((c.path / "trainer_state.json").read_text())
        assert c.tokens_seen == state["num_input_tokens_seen"] > 0
    assert checkpoints[1].tokens_seen > checkpoints[0].tokens_seen
    assert pick(checkpoints, [4]) == [checkpoints[1]]
    with pytest.raises(ValueError, match=r"No checkpoint at step\(s\) \[3\]; the run has steps \[2, 4\]"):
        pick(checkpoints, [3])
    with pytest.raises(ValueError, match="No complete checkpoint"):
        run_checkpoints(mntp_run / "nowhere")


def test_curve_probes_each_checkpoint_with_its_own_adapter(mntp_run, splits, tmp_path):
    checkpoints = run_checkpoints(mntp_run)
    base = FeatureConfig(model="tiny-llama")
    rows = probe_curve(
        splits, checkpoints, ("pos",), -1, (-1, 0), base, ProbeConfig(steps=30, seeds=(0,)), cache_root=tmp_path
    )
    assert [(r["variant"], r["step"], r["shift"]) for r in rows] == [
        ("uni", 0, 0), ("bi", 0, 0), ("bi-mntp", 2, -1), ("bi-mntp", 2, 0), ("bi-mntp", 4, -1), ("bi-mntp", 4, 0)
    ]  # fmt: skip
    assert {r["layer"] for r in rows} == {3}  # tiny-llama: 3 layers -> hidden states 0..3, -1 is the last
    uni = rows[0]["accuracy"]
    assert all(r["delta_vs_uni"] == pytest.approx(r["accuracy"] - uni) for r in rows)
    # the features really come from each checkpoint's adapter: compare against features built directly
    words = [s.words for s in splits["test"]]

    def direct(adapters, variant="bi-mntp", shift=0):
        config = FeatureConfig(model="tiny-llama", variant=variant, adapters=adapters, shift=shift, layers=(3,))
        return np.asarray(extract_features(words, config, root=tmp_path / "direct").layer(3), dtype=np.float32)

    step2, step4, bi = direct((str(checkpoints[0].path),)), direct((str(checkpoints[1].path),)), direct(None, "bi")
    assert not np.allclose(step2, step4) and not np.allclose(step2, bi)
    figure = curve_figure(rows)
    assert [t.name for t in figure.data] == ["Bi+MNTP, shift -1", "Bi+MNTP, shift 0"]
    assert list(figure.data[0].x) == [checkpoints[0].tokens_seen, checkpoints[1].tokens_seen]
