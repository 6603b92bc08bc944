"""Run configs: defaults, JSON/YAML files, command-line overrides with type conversion, and validation errors."""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

import pytest

from lab.cli import build_parser
from lab.training.config import MNTPConfig, TrainingConfig, config_to_dict, load_config, parse_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_are_the_papers_values() -> None:
    config = MNTPConfig()
    assert (config.lora_r, config.lora_alpha, config.lora_dropout) == (16, 32, 0.05)
    assert (config.masking, config.mask_probability, config.mask_token) == ("bert", 0.2, "_")
    assert config.max_seq_length == 512
    assert config.bf16 is None and config.gradient_checkpointing is None  # decided by the device


def test_every_field_has_help() -> None:
    assert all(f.metadata.get("help") for f in fields(MNTPConfig))


def test_yaml_then_cli_overrides(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(
        "model: tiny-llama\nmax_steps: 50\nlearning_rate: 1.0e-4\nmasking: replace_all\nmask_probability: 0.8\n"
    )
    config = parse_config(
        MNTPConfig,
        [
            "--config",
            str(path),
            "--max_steps",
            "20",
            "--bf16",
            "false",
            "--lora_target_modules",
            "q_proj,v_proj",
            "--gradient_checkpointing",
            "auto",
        ],
    )
    assert config.model == "tiny-llama" and config.max_steps == 20 and config.learning_rate == 1e-4
    assert config.masking == "replace_all" and config.mask_probability == 0.8
    assert config.bf16 is False and config.gradient_checkpointing is None
    assert config.lora_target_modules == ["q_proj", "v_proj"]


def test_json_round_trip(tmp_path: Path) -> None:
    config = MNTPConfig(model="tiny-qwen2", max_steps=7, adapters=["a", "b"])
    path = tmp_path / "run_config.json"
    path.write_text(json.dumps(config_to_dict(config)))
    assert load_config(MNTPConfig, path) == config


def test_shipped_config_loads() -> None:
    config = load_config(MNTPConfig, ROOT / "configs" / "mntp-smollm2.yaml")
    assert config.model == "smollm2-135m" and config.mask_token == "_"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"masking": "span"}, "Unknown masking 'span'; expected one of bert, replace_all"),
        ({"mask_token": "[MASK]"}, "Unknown mask_token '\\[MASK\\]'; expected one of _, eos, <mask>"),
        ({"mask_probability": 0}, "mask_probability must be in \\(0, 1\\]; got 0"),
        ({"max_steps": "ten"}, "max_steps expects an integer; got 'ten'"),
        ({"lora_r": 0}, "lora_r must be a positive integer; got 0"),
        ({"lora_dropout": 1.5}, "lora_dropout must be in \\[0, 1\\); got 1.5"),
        ({"bf16": "maybe"}, "--bf16 expects true or false; got 'maybe'"),
        ({"resume": "/no/such/checkpoint"}, "resume must be 'auto', 'never' or an existing checkpoint folder"),
        ({"max_step": 3}, "Unknown config field\\(s\\) max_step for MNTPConfig"),
    ],
)
def test_validation_errors_name_the_value(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(MNTPConfig, overrides=overrides)


def test_config_file_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(MNTPConfig, tmp_path / "missing.yaml")
    bad = tmp_path / "run.toml"
    bad.write_text("x = 1")
    with pytest.raises(ValueError, match="must end in .json, .yaml or .yml"):
        load_config(MNTPConfig, bad)


def test_base_config_is_reusable() -> None:
    config = TrainingConfig(model="tiny-llama")
    assert not hasattr(config, "mask_probability")


def test_cli_train_parser_exposes_every_field() -> None:
    args = build_parser().parse_args(["train", "mntp", "--config", "x.yaml", "--max_steps", "3", "--lora_r", "8"])
    assert args.task == "mntp" and args.max_steps == "3" and args.lora_r == "8" and args.config == "x.yaml"
    assert all(hasattr(args, f.name) for f in fields(MNTPConfig))


def test_cli_help_lists_fields(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["train", "mntp", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--mask_probability" in text and "80% mask" in text and "--lora_r" in text


def test_resume_skips_a_checkpoint_killed_while_being_written(tmp_path: Path) -> None:
    """A kill during saving leaves checkpoint-N without trainer_state.json: resume must take the last complete one."""
    import torch
    from safetensors.torch import save_file

    from lab.training.checkpoints import last_complete_checkpoint

    for step, complete in ((4, True), (8, True), (12, False)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        save_file({"w": torch.zeros(2)}, folder / "adapter_model.safetensors")
        if complete:
            (folder / "trainer_state.json").write_text(f'{{"global_step": {step}}}')
    assert last_complete_checkpoint(tmp_path) == str(tmp_path / "checkpoint-8")
    assert last_complete_checkpoint(tmp_path / "checkpoint-12") is None
