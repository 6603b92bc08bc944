"""Reliability of training runs (issue 12): resume only the same run, stop a diverged one, survive corrupt state."""

from __future__ import annotations

import json
import logging
import math
import shutil
from pathlib import Path

import pytest

from lab.training.checkpoints import (
    RUN_CONFIG_NAME,
    TrainingDivergedError,
    last_complete_checkpoint,
    read_metrics_log,
    truncate_metrics_log,
)
from lab.training.config import MNTPConfig
from lab.training.mntp import train_mntp

DOCS = [f"Document {i} tells of cats, dogs and markets on the Moon, and of the weather there." for i in range(16)]


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM2VEC_LAB_CACHE", str(tmp_path / "cache"))  # the tokenised-corpus cache goes here


def tiny_config(tmp_path: Path, **overrides) -> MNTPConfig:
    data = tmp_path / "docs.txt"
    data.write_text("\n".join(DOCS) + "\n")
    values = dict(
        model="tiny-llama",
        dataset=str(data),
        output_dir=str(tmp_path / "run"),
        max_seq_length=16,
        per_device_train_batch_size=4,
        max_steps=2,
        save_steps=1,
        save_total_limit=5,
        logging_steps=1,
        eval_steps=0,
        eval_at_start=False,
        eval_fraction=0.0,
        learning_rate=5e-3,
        disable_tqdm=True,
    )
    return MNTPConfig(**{**values, **overrides})


def test_resume_auto_refuses_another_run_and_keeps_its_config(tmp_path):
    train_mntp(tiny_config(tmp_path))
    saved = (tmp_path / "run" / RUN_CONFIG_NAME).read_text()
    for change, shown in [({"seed": 7}, "seed: 42 -> 7"), ({"learning_rate": 1e-3}, "learning_rate: 0.005 -> 0.001")]:
        with pytest.raises(ValueError, match=rf"holds another run: its run_config.json differs in {shown}"):
            train_mntp(tiny_config(tmp_path, **change))
        assert (tmp_path / "run" / RUN_CONFIG_NAME).read_text() == saved  # the first run's provenance is kept
    with pytest.raises(ValueError, match=r"model: 'tiny-llama' -> 'tiny-mistral'"):
        train_mntp(tiny_config(tmp_path, model="tiny-mistral"))
    # the budget may change: two more steps resume from the checkpoint at step 2
    metrics = train_mntp(tiny_config(tmp_path, max_steps=4, logging_steps=2))
    assert metrics["global_step"] == 4 and metrics["resumed_from"].endswith("checkpoint-2")
    # resume=never starts over on purpose
    assert train_mntp(tiny_config(tmp_path, seed=7, resume="never"))["resumed_from"] is None


def test_a_diverged_run_stops_with_a_typed_error_and_writes_no_adapter(tmp_path):
    with pytest.raises(ValueError, match="learning_rate must be a finite number; got inf"):
        tiny_config(tmp_path, learning_rate=math.inf)
    with pytest.raises(TrainingDivergedError, match=r"(loss became nan|became NaN or infinite) .*step [12]"):
        train_mntp(tiny_config(tmp_path, learning_rate=1e30, max_steps=4))
    run = tmp_path / "run"
    assert not (run / "adapter_model.safetensors").exists() and not (run / "metrics.json").exists()
    for checkpoint in run.glob("checkpoint-*"):  # any checkpoint saved holds finite weights only
        from safetensors.torch import load_file

        assert all(t.isfinite().all() for t in load_file(checkpoint / "adapter_model.safetensors").values())
    logged = [e["loss"] for e in read_metrics_log(run) if "loss" in e] if (run / "metrics.jsonl").exists() else []
    assert 0.0 not in logged  # a NaN loss is never logged as 0.0


def test_resume_falls_back_from_a_corrupt_checkpoint_and_a_torn_log(tmp_path, caplog):
    straight = train_mntp(tiny_config(tmp_path, max_steps=3))
    run = tmp_path / "run"
    shutil.rmtree(run / "checkpoint-3")  # as if killed after the checkpoint at step 2
    weights = run / "checkpoint-2" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a copy cut short
    with caplog.at_level(logging.WARNING):
        assert last_complete_checkpoint(run).endswith("checkpoint-1")
    assert "checkpoint-2/adapter_model.safetensors is truncated" in caplog.text
    optimizer = run / "checkpoint-1" / "optimizer.pt"
    kept = optimizer.read_bytes()
    optimizer.write_bytes(kept[: len(kept) // 2])
    assert last_complete_checkpoint(run) is None and "optimizer.pt is truncated" in caplog.text
    optimizer.write_bytes(kept)
    with open(run / "metrics.jsonl", "a") as handle:
        handle.write('{"step": 3, "loss": 1.2')  # a kill in the middle of a log line
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        resumed = train_mntp(tiny_config(tmp_path, max_steps=3))
    assert "Dropping the torn last line" in caplog.text
    assert resumed["resumed_from"].endswith("checkpoint-1") and resumed["global_step"] == 3
    assert math.isclose(resumed["final_train_loss"], straight["final_train_loss"], rel_tol=1e-5)
    assert [e["step"] for e in read_metrics_log(run) if "loss" in e] == [1, 2, 3]


def test_a_corrupt_line_inside_the_log_is_named(tmp_path):
    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n{"step": 2\n{"step": 3}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2, is not valid JSON"):
        truncate_metrics_log(log, 3)
    log.write_text('{"step": 1}\n{"step": 2}\n{"ste')
    truncate_metrics_log(log, 1)
    assert json.loads(log.read_text()) == {"step": 1}


def test_a_field_an_older_run_config_lacks_counts_as_its_default(tmp_path):
    from lab.training.checkpoints import check_same_run
    from lab.training.config import config_to_dict

    config = tiny_config(tmp_path)
    older = {k: v for k, v in config_to_dict(config).items() if k != "masking"}  # written before "masking" existed
    (tmp_path / RUN_CONFIG_NAME).write_text(json.dumps({**older, "max_steps": 99}))
    check_same_run(tmp_path, config)  # the default masking, another budget: the same run
    with pytest.raises(ValueError, match=r"differs in masking: '<absent>' -> 'replace_all'"):
        check_same_run(tmp_path, tiny_config(tmp_path, masking="replace_all"))
