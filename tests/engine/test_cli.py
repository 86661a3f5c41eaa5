"""Command-line overrides of nested config dataclasses (tyro), JSON configs and dotted overrides."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

from mmfusion.engine import TrainConfig, apply_overrides, from_dict, parse_args, to_jsonable
from mmfusion.errors import ConfigError


@dataclass
class DataCfg:
    root: str = "data/ntu"
    modalities: tuple[str, ...] = ("rgb", "skeleton")
    clip_len: int = 8
    protocol: Literal["xsub", "xview"] = "xsub"
    seed: int = 0  # also in TrainConfig: only the dotted names exist


@dataclass
class Recipe:
    model: str = "xshiftnet_rgb"
    num_classes: int = 60
    data: DataCfg = field(default_factory=DataCfg)
    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=30, lr=0.1, output_dir="runs/x"))


def test_dotted_overrides() -> None:
    base = Recipe()
    cfg = parse_args(base, ["--train.lr", "0.05", "--train.epochs", "2", "--train.batch_size", "4",
                            "--data.modalities", "rgb", "depth", "--data.protocol", "xview",
                            "--train.milestones", "10", "20", "--train.betas", "0.8", "0.9", "--train.seed", "7",
                            "--data.seed", "3", "--model", "epam_net"])
    assert cfg.train.lr == 0.05 and cfg.train.epochs == 2 and cfg.train.batch_size == 4
    assert cfg.data.modalities == ("rgb", "depth")
    assert cfg.data.protocol == "xview"
    assert cfg.train.milestones == (10, 20)
    assert cfg.train.betas == (0.8, 0.9)
    assert (cfg.train.seed, cfg.data.seed) == (7, 3)
    assert cfg.model == "epam_net"
    # untouched fields keep the instance's (recipe's) values, and the base is not mutated
    assert cfg.train.output_dir == "runs/x" and cfg.num_classes == 60
    assert base.train.lr == 0.1 and base.data.modalities == ("rgb", "skeleton")


def test_bool_optional_and_empty_values() -> None:
    cfg = parse_args(Recipe(), ["--train.cpu", "--train.no-nesterov", "--train.tracker", "tensorboard",
                                "--train.resume", "auto", "--train.clip-grad", "5", "--train.max-steps", "3"])
    assert cfg.train.cpu is True and cfg.train.nesterov is False
    assert cfg.train.tracker == "tensorboard" and cfg.train.resume == "auto"
    assert cfg.train.clip_grad == 5.0 and cfg.train.max_steps == 3
    cfg2 = parse_args(cfg, ["--train.no-cpu", "--train.resume", "None", "--train.tracker", "None",
                            "--train.milestones"])
    assert cfg2.train.cpu is False and cfg2.train.resume is None and cfg2.train.tracker is None
    assert cfg2.train.milestones == ()


@pytest.mark.parametrize("args, message", [
    (["--nope", "1"], "--nope"),  # unknown option
    (["--seed", "1"], "--seed"),  # "seed" exists only as --train.seed / --data.seed
    (["--data.protocol", "xset"], "protocol"),
    (["--train.epochs", "two"], "--train.epochs"),
    (["--train.epochs", "0"], "epochs must be >= 1"),  # the dataclass's own validation
    (["--train.optimizer", "lamb"], "optimizer"),
    (["--train.betas", "0.9"], "--train.betas"),
    (["--config", "/no/such/file.json"], "cannot read config JSON"),
])
def test_bad_values_are_usage_errors(args: list[str], message: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(Recipe(), args)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "--help" in err and "usage: " in err


def test_config_file_round_trip(tmp_path) -> None:
    cfg = parse_args(Recipe(), ["--train.lr", "0.3", "--data.clip_len", "16", "--train.milestones", "5", "9"])
    path = tmp_path / "train_config.json"
    path.write_text(json.dumps(to_jsonable(cfg)))
    again = parse_args(Recipe, ["--config", str(path), "--train.epochs", "5"])  # a type also works
    assert again.train.lr == 0.3 and again.data.clip_len == 16 and again.train.milestones == (5, 9)
    assert again.train.epochs == 5  # the command line wins over the file
    assert from_dict(Recipe, to_jsonable(cfg)) == cfg
    with pytest.raises(ConfigError, match="unknown fields"):
        from_dict(TrainConfig, {"lr": 0.1, "learning_rate": 0.1})
    assert apply_overrides(cfg, {"train.lr": "0.01", "data.protocol": "xview"}).train.lr == 0.01


def test_help_lists_choices(capsys) -> None:
    with pytest.raises(SystemExit):
        parse_args(Recipe(), ["--help"])
    out = capsys.readouterr().out
    assert "--train.lr" in out and "peak learning rate" in out  # field docs are the help text
    assert "{sgd,adamw}" in out and "{None,no,bf16,fp16}" in out and "--config" in out
