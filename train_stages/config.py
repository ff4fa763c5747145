"""Training configuration: one YAML file per stage, overridable from the command line.

A config is a tree of dataclasses (:class:`TrainConfig`) read from YAML. Any leaf can be overridden with
``--set key.sub=value`` (lists by index: ``--set data.train.0.root=/data/synth``); values are parsed as YAML
scalars, so ``--set optim.lr=3e-4`` is a float and ``--set run.trackers=[]`` a list. Unknown keys are errors,
so a typo never trains silently with a default.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xforge.model.config import LossOptions, LossWeights, XForgeConfig
from xforge.model.trainable import TRAINABLE_GROUPS

# Checked before a model loads, against the model's own definition.
TRAINABLE_GROUP_NAMES = TRAINABLE_GROUPS


class ConfigError(ValueError):
    """A config that cannot be used; the message names the file or key and the problem."""


@dataclass
class ModelConfig:
    """Where the model comes from and what of it trains.

    ``init_from`` is a checkpoint folder or Hub id (the previous stage's output), whose architecture it
    keeps; without it the model is built fresh as ``build`` (an ``XForgeConfig``, the same tree a checkpoint
    saves) says (stage 1 of a real run). ``loss_weights`` and ``loss`` are this stage's: what its YAML says,
    else the defaults; a checkpoint's own values are not inherited (stage 1's zero score weight must not
    silence the score loss of stage 2).
    """

    init_from: str | None = None
    build: XForgeConfig | None = None
    torch_dtype: str | None = None
    trainable: list[str] = field(default_factory=lambda: ["projector", "mask_decoder", "forensic_stream"])
    loss_weights: LossWeights = field(default_factory=LossWeights)
    loss: LossOptions = field(default_factory=LossOptions)
    gradient_checkpointing: bool = False


@dataclass
class DataSource:
    """One conversations JSONL and the root its relative ``image``/``mask`` paths resolve against.

    ``roots`` maps dataset name to folder (``"*"`` serves every dataset) when one file mixes datasets.
    """

    conversations: str
    root: str | None = None
    roots: dict[str, str] = field(default_factory=dict)


@dataclass
class DataConfig:
    train: list[DataSource] = field(default_factory=list)
    val: list[DataSource] = field(default_factory=list)
    # "balanced": CAT-Net's scheme, ``per_dataset`` draws from each dataset per epoch
    # (data_builders.sampling.BalancedDatasetSampler); "shuffle": a seeded permutation of all samples.
    sampler: str = "shuffle"
    per_dataset: int = 1869
    max_pixels: int | None = None
    num_workers: int = 0
    val_max_samples: int | None = None


@dataclass
class OptimConfig:
    lr: float = 1e-4
    # Per trainable group, a factor on ``lr`` (e.g. ``{lora: 0.2}``): heads trained from scratch want a
    # larger step than LoRA on a pretrained model.
    lr_multipliers: dict[str, float] = field(default_factory=dict)
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    warmup_steps: int = 0
    max_steps: int = 1000
    min_lr_ratio: float = 0.0
    grad_clip: float | None = 1.0
    batch_size: int = 1  # per process, per micro-step
    grad_accum: int = 1


@dataclass
class RunConfig:
    output_dir: str = "runs/xforge"
    seed: int = 0
    save_every: int = 500  # optimizer steps between resumable checkpoints
    keep_last: int = 2  # resumable checkpoints kept (oldest deleted first)
    eval_every: int = 500
    log_every: int = 10
    mixed_precision: str | None = None  # None: whatever `accelerate launch` / its config says
    trackers: list[str] = field(default_factory=lambda: ["tensorboard"])
    project_name: str = "xforge"
    merge_lora: bool = False  # also write <output_dir>/merged: LoRA folded into the LLM weights


@dataclass
class TrainConfig:
    stage: int = 2
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _build(tp: Any, value: Any, where: str) -> Any:
    """Turn plain YAML data into the annotated type ``tp`` (dataclasses, lists of them, optionals)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _build(args[0], value, where)
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        hints = typing.get_type_hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(value) - names
        if unknown:
            raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; known: {sorted(names)}")
        return tp(**{k: _build(hints[k], v, f"{where}.{k}" if where else k) for k, v in value.items()})
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_build(item, v, f"{where}.{i}") for i, v in enumerate(value)]
    if tp is float and isinstance(value, (int, str)) and not isinstance(value, bool):
        try:  # YAML 1.1 reads "3e-4" (no dot) as a string
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected float, got {value!r}") from None
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    return value


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one ``key.sub=value`` override to raw config data in place."""
    key, sep, raw = assignment.partition("=")
    if not sep or not key:
        raise ConfigError(f"--set expects key.sub=value, got {assignment!r}")
    value = yaml.safe_load(raw) if raw else None
    parts = key.strip().split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = parts[i + 1]
        if isinstance(node, list):
            node = node[int(part)]
            continue
        if node.get(part) is None:
            node[part] = [] if nxt.isdigit() else {}
        node = node[part]
    last = parts[-1]
    if isinstance(node, list):
        index = int(last)
        if index == len(node):
            node.append(value)
        else:
            node[index] = value
    else:
        node[last] = value


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config and apply ``--set`` overrides; returns a validated :class:`TrainConfig`."""
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"{path}: config file not found")
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    for assignment in overrides or []:
        try:
            apply_override(data, assignment)
        except (IndexError, ValueError, TypeError, AttributeError) as exc:
            raise ConfigError(f"--set {assignment}: {exc}") from None
    cfg = _build(TrainConfig, data, "")
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    bad = sorted(set(cfg.model.trainable) - set(TRAINABLE_GROUP_NAMES))
    if bad:
        raise ConfigError(f"model.trainable: unknown modules {bad}; known: {list(TRAINABLE_GROUP_NAMES)}")
    build = cfg.model.build
    if build is not None and cfg.model.init_from is not None:
        raise ConfigError(
            "model.build and model.init_from are both set: a checkpoint keeps the architecture it was built with"
        )
    if build is not None and (build.loss_weights != LossWeights() or build.loss != LossOptions()):
        raise ConfigError(
            "model.build.loss_weights/loss: set a stage's losses in model.loss_weights/model.loss"
        )
    if cfg.data.sampler not in ("balanced", "shuffle"):
        raise ConfigError(f"data.sampler: {cfg.data.sampler!r} is not 'balanced' or 'shuffle'")
    if not cfg.data.train:
        raise ConfigError("data.train: no training conversations given")
    for name in ("max_steps", "batch_size", "grad_accum", "save_every", "eval_every", "log_every"):
        section = cfg.optim if hasattr(cfg.optim, name) else cfg.run
        if getattr(section, name) < 1:
            raise ConfigError(f"{name} must be >= 1")


def build_arg_parser(description: str) -> argparse.ArgumentParser:
    """The command line every stage recipe shares."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--config", required=True, help="YAML config (train_stages/configs/…)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)",
    )
    p.add_argument(
        "--resume",
        nargs="?",
        const="last",
        default=None,
        metavar="CHECKPOINT",
        help="resume from the last complete checkpoint in run.output_dir (or from the folder given)",
    )
    return p
