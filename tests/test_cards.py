"""Model cards: every shipped card is exactly what its run files render, and the renderer quotes those files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.training.card import README_NAME, curve_rows, render_card

SHIPPED = Path(__file__).resolve().parents[1] / "lab" / "adapters" / "smollm2-135m"


def shipped_with_cards() -> list[str]:
    """Adapters shipped by scripts/ship_adapter.py."""
    return sorted(p.parent.name for p in SHIPPED.glob("*/card.json"))


def test_every_shipped_adapter_has_a_rendered_card() -> None:
    assert shipped_with_cards() == sorted(p.parent.name for p in SHIPPED.glob("*/adapter_config.json"))
    assert {"mntp", "mntp-simcse"} <= set(shipped_with_cards())


@pytest.mark.parametrize("name", shipped_with_cards())
def test_shipped_card_is_rendered_from_its_run_files(name: str) -> None:
    folder = SHIPPED / name
    assert (folder / README_NAME).read_text(encoding="utf-8") == render_card(folder)


def test_mntp_card_states_the_final_held_out_accuracy() -> None:
    metrics = json.loads((SHIPPED / "mntp" / "metrics.json").read_text())
    card = (SHIPPED / "mntp" / README_NAME).read_text(encoding="utf-8")
    assert f"| {metrics['global_step']} | {metrics['num_input_tokens_seen']:,} |" in card
    assert f"{100 * metrics['eval_accuracy']:.1f}% |" in card


def test_simcse_card_states_the_chosen_checkpoint_and_its_test_score() -> None:
    folder = SHIPPED / "mntp-simcse"
    metrics = json.loads((folder / "metrics.json").read_text())
    sts = json.loads((folder / "card.json").read_text())["sts"]["Bi + MNTP + SimCSE, mean (this adapter)"]
    card = (folder / README_NAME).read_text(encoding="utf-8")
    assert metrics["best_checkpoint"].endswith(f"checkpoint-{metrics['global_step']}")  # ended on the dev-best
    assert f"best dev Spearman ({100 * metrics['best_metric']['eval_stsb_dev_spearman']:.2f})" in card
    assert sts["test"]["pairs"] == 1379 and sts["test"]["spearman"] >= 0.58  # issue 10: Uni (43.02) + 15
    assert "| tokens seen | not recorded |" not in card and "| 0 | 28.94 |" in card  # step 0: before SimCSE


def _run_folder(tmp_path: Path, kind: str, events: list[dict]) -> Path:
    config = {
        "model": "smollm2-135m",
        "adapters": [] if kind == "mntp" else ["mntp"],
        "dataset": "wiki-sample",
        "lora_r": 16,
        "lora_alpha": 32,
        "lora_dropout": 0.0,
        "lora_target_modules": [],
        "max_seq_length": 128,
        "per_device_train_batch_size": 16,
        "gradient_accumulation_steps": 2,
        "learning_rate": 2e-4,
        "lr_scheduler_type": "linear",
        "warmup_steps": 25,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "seed": 42,
        "max_steps": 510,
        "masking": "bert",
        "mask_probability": 0.2,
        "mask_token": "_",
        "attention_dropout": 0.3,
        "scale": 20.0,
        "pooling": "mean",
    }
    metrics = {"global_step": 306, "num_input_tokens_seen": 1034881, "trainable_parameters": 4884480}
    if kind == "simcse":
        metrics["best_metric"] = {"eval_stsb_dev_spearman": 0.7123}
    sts = {"Uni": {"test": {"spearman": 0.4302}}, "LLM2Vec": {"test": {"spearman": 0.6}, "dev": {"spearman": 0.7}}}
    card = {"kind": kind, "title": "T", "summary": "S", "stack": ["mntp"], "command": "C", "hardware": "H", "sts": sts}
    for name, data in (("run_config.json", config), ("metrics.json", metrics), ("card.json", card)):
        (tmp_path / name).write_text(json.dumps(data))
    (tmp_path / "metrics.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return tmp_path


def test_mntp_card_quotes_the_run(tmp_path: Path) -> None:
    events = [
        {"step": 0, "initial_eval_loss": 6.8211, "initial_eval_accuracy": 0.0788, "num_input_tokens_seen": 0},
        {"step": 5, "loss": 6.7, "accuracy": 0.07},  # a training log: not part of the curve
        {"step": 34, "eval_loss": 4.5, "eval_accuracy": 0.257, "num_input_tokens_seen": 69000},
    ]
    text = render_card(_run_folder(tmp_path, "mntp", events))
    assert "| 0 | 0 | 6.821 | 7.9% |" in text
    assert "| 34 | 69,000 | 4.500 | 25.7% |" in text
    assert "306 of 510 scheduled" in text
    assert "1,034,881" in text
    assert "128 tokens / 32 sequences" in text  # batch x gradient accumulation


def test_simcse_card_reports_dev_curve_and_chosen_checkpoint(tmp_path: Path) -> None:
    events = [
        {"step": 0, "eval_stsb_dev_spearman": 0.5},
        {"step": 40, "loss": 0.3},
        {"step": 40, "eval_stsb_dev_spearman": 0.7123},
    ]
    assert curve_rows(events, "simcse") == [("0", "50.00"), ("40", "71.23")]
    text = render_card(_run_folder(tmp_path, "simcse", events))
    assert "best dev Spearman (71.23)" in text
    assert "temperature 0.05" in text
    assert "| Uni | 43.02 | not measured |" in text  # a split that was not measured is said so, never invented
    assert "| LLM2Vec | 60.00 | 70.00 |" in text
