"""The training loop the three stage recipes share (accelerate + optional DeepSpeed).

What it does, in order: build the :class:`~accelerate.Accelerator` and check that it sees the same world as
``torch.distributed``; build the seeded data pipeline; AdamW over the trainable parameters with a cosine
schedule and linear warm-up; train with gradient accumulation, mixed precision and gradient clipping; every
``run.save_every`` optimizer steps write an atomic resumable checkpoint; every ``run.eval_every`` steps
validate on the held-out conversations; at the end write the model as a ``save_pretrained`` folder
(``<output_dir>/final``) that the next stage, ``xforge chat`` and ``xforge eval`` load.

Resuming (``--resume``) restores model, optimizer, scheduler and RNG states (``accelerator.load_state``) and
replays the data order: samplers depend only on ``(seed, epoch)``, and the batches of the interrupted epoch
that were already consumed are skipped with ``accelerator.skip_first_batches``.

Under DeepSpeed, ``optimizer.step()`` on every micro-batch is right only because accelerate (>= 1.8, the
pin in pyproject.toml) tells the engine where each accumulation boundary is, including the one it forces at
the end of an epoch; older releases let DeepSpeed count micro-batches itself.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType, InitProcessGroupKwargs, ProjectConfiguration, set_seed
from torch.utils.data import DataLoader
from tqdm.auto import tqdm
from transformers import get_cosine_with_min_lr_schedule_with_warmup

from train_stages import checkpoint as ckpt
from train_stages.config import ConfigError, TrainConfig, build_arg_parser, load_config
from train_stages.data import build_dataset, build_sampler
from train_stages.export import export_merged
from train_stages.log_window import LogWindow
from train_stages.model_setup import setup_model
from train_stages.validate import validate
from xforge import distributed
from xforge.distributed import DistributedSetupError
from xforge.model.trainable import TRAINABLE_GROUPS

logger = logging.getLogger(__name__)

METRICS_NAME = "metrics.jsonl"
FINAL_NAME = "final"
MERGED_NAME = "merged"


def make_accelerator(cfg: TrainConfig) -> Accelerator:
    """An Accelerator configured from ``cfg.run`` and whatever ``accelerate launch`` set in the environment."""
    out = Path(cfg.run.output_dir)
    handlers = []
    use_deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    if use_deepspeed and not torch.cuda.is_available() and distributed.launcher_world()[1] > 1:
        # accelerate picks no process-group backend for DeepSpeed on a CPU-only machine and then reports
        # one process per rank (every rank "main", unsharded data). Naming gloo, the CPU backend DeepSpeed's
        # CPU accelerator also uses, gives accelerate the real world size.
        handlers.append(InitProcessGroupKwargs(backend="gloo"))
    accelerator = Accelerator(
        gradient_accumulation_steps=cfg.optim.grad_accum,
        mixed_precision=cfg.run.mixed_precision,
        log_with=cfg.run.trackers or None,
        project_config=ProjectConfiguration(project_dir=str(out), logging_dir=str(out / "logs")),
        kwargs_handlers=handlers,
    )
    check_world(accelerator)
    return accelerator


def check_world(accelerator: Accelerator) -> None:
    """Fail loudly when accelerate, the launcher and torch.distributed disagree on the world
    (``xforge.distributed``), or when several processes run without a distributed setup."""
    distributed.check_world(accelerator.process_index, accelerator.num_processes)
    if accelerator.num_processes > 1 and accelerator.distributed_type == DistributedType.NO:
        raise DistributedSetupError(
            f"{accelerator.num_processes} processes but accelerate set up no distributed training "
            "(on a CPU-only machine use an accelerate config with use_cpu: true, or DeepSpeed)"
        )


def _deepspeed_config(accelerator: Accelerator) -> dict[str, Any] | None:
    if accelerator.distributed_type != DistributedType.DEEPSPEED:
        return None
    return accelerator.state.deepspeed_plugin.deepspeed_config


def _align_deepspeed(accelerator: Accelerator, cfg: TrainConfig) -> None:
    """Fill DeepSpeed's "auto" gradient clipping from the YAML and refuse batch settings that disagree."""
    ds = _deepspeed_config(accelerator)
    if ds is None:
        return
    if ds.get("gradient_clipping", "auto") == "auto":
        ds["gradient_clipping"] = float(cfg.optim.grad_clip or 0.0)
    for key, want in (
        ("train_micro_batch_size_per_gpu", cfg.optim.batch_size),
        ("gradient_accumulation_steps", cfg.optim.grad_accum),
    ):
        have = ds.get(key, "auto")
        if have != "auto" and int(have) != want:
            raise ValueError(
                f"DeepSpeed config has {key}={have} but the training config says {want}: "
                'set it to "auto" in the DeepSpeed JSON or make them agree'
            )


_HALF_DTYPES = {"bfloat16": "bf16", "float16": "fp16"}


def _check_precision(accelerator: Accelerator, cfg: TrainConfig) -> None:
    """A model loaded in bf16/fp16 trains only under mixed precision of that dtype.

    Trainable parameters are float32 (``model_setup.upcast_trainable``) while frozen ones stay in half
    precision, so the forward pass needs autocast (plain/DDP) or DeepSpeed's own bf16/fp16 engine, which
    keeps float32 master weights; without either, the dtypes would not match or updates would round away.
    """
    want = _HALF_DTYPES.get(cfg.model.torch_dtype or "")
    if want is None:
        return
    ds = _deepspeed_config(accelerator)
    if ds is None:
        have = accelerator.mixed_precision
    else:
        have = next((k for k in ("bf16", "fp16") if ds.get(k, {}).get("enabled") is True), "no")
    if have != want:
        raise ConfigError(
            f"model.torch_dtype={cfg.model.torch_dtype} needs run.mixed_precision: {want} "
            f"(mixed precision is {have!r}): the frozen weights are {cfg.model.torch_dtype}, the trained "
            "ones float32"
        )


def trainable_parameters(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def optimizer_groups(model, lr: float, multipliers: dict[str, float]) -> list[dict]:
    """AdamW parameter groups, one per trainable group, each at ``lr`` times its multiplier (default 1)."""
    groups: dict[str, list[torch.nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault(model.group_of(name) or "other", []).append(param)
    unknown = set(multipliers) - set(TRAINABLE_GROUPS)
    if unknown:
        raise ValueError(f"optim.lr_multipliers: unknown groups {sorted(unknown)}; have {TRAINABLE_GROUPS}")
    return [{"params": ps, "lr": lr * multipliers.get(g, 1.0)} for g, ps in groups.items()]


@dataclass
class TrainState:
    """What a checkpoint records besides model/optimizer/scheduler/RNG (saved as JSON)."""

    step: int = 0  # optimizer steps done
    epoch: int = 0
    batches_in_epoch: int = 0  # micro-batches of ``epoch`` already consumed (per process)
    seed: int = 0
    world_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def build_dataloaders(cfg: TrainConfig, collate) -> tuple[DataLoader, DataLoader | None]:
    train_set = build_dataset(cfg.data.train, max_pixels=cfg.data.max_pixels)
    sampler = build_sampler(cfg.data.sampler, train_set, seed=cfg.run.seed, per_dataset=cfg.data.per_dataset)
    train = DataLoader(
        train_set,
        batch_size=cfg.optim.batch_size,
        sampler=sampler,
        collate_fn=collate,
        num_workers=cfg.data.num_workers,
        drop_last=True,  # every process takes the same number of full batches
    )
    val = None
    if cfg.data.val:
        val_set = build_dataset(cfg.data.val, max_pixels=cfg.data.max_pixels)
        if cfg.data.val_max_samples is not None and cfg.data.val_max_samples < len(val_set):
            val_set = torch.utils.data.Subset(val_set, range(cfg.data.val_max_samples))
        val = DataLoader(val_set, batch_size=cfg.optim.batch_size, collate_fn=collate)
    return train, val


def _flat_hparams(cfg: TrainConfig) -> dict[str, Any]:
    """Scalars only: what TensorBoard's hparams plugin accepts."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else k, v)
        elif isinstance(value, (int, float, str, bool)):
            flat[prefix] = value
        else:
            flat[prefix] = json.dumps(value)

    walk("", cfg.to_dict())
    return flat


def _append_metrics(path: Path, row: dict[str, Any]) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


@dataclass
class Training:
    """What :func:`setup_training` prepared: the (accelerate-wrapped) model, optimiser, schedule, loaders."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    train_loader: DataLoader
    val_loader: DataLoader | None
    params: list[torch.nn.Parameter]


def fit(
    accelerator: Accelerator,
    model: torch.nn.Module,
    processor: Any,
    cfg: TrainConfig,
    *,
    resume: str | None = None,
) -> Path:
    """Train ``model`` as ``cfg`` says and return the final ``save_pretrained`` folder."""
    out = Path(cfg.run.output_dir)
    set_seed(cfg.run.seed)
    run = setup_training(accelerator, model, processor, cfg)
    state = resume_state(accelerator, cfg, resume)
    prepare_output(accelerator, cfg)
    batches_per_epoch = len(run.train_loader)
    if batches_per_epoch == 0:
        raise ValueError("the training set is smaller than one batch per process")
    progress = tqdm(
        total=cfg.optim.max_steps,
        initial=state.step,
        desc=f"stage {cfg.stage}",
        disable=not accelerator.is_local_main_process,
    )
    run.model.train()
    window = LogWindow(accelerator.device)  # everything since the last logged row
    while state.step < cfg.optim.max_steps:
        run.train_loader.set_epoch(state.epoch)  # accelerate's loader passes it on to the sampler
        loader = run.train_loader
        if state.batches_in_epoch:
            loader = accelerator.skip_first_batches(run.train_loader, state.batches_in_epoch)
        for batch in loader:
            output = train_step(accelerator, run, batch, cfg)
            state.batches_in_epoch += 1
            window.add(output, batch["input_ids"].shape[0])
            if not accelerator.sync_gradients:
                continue
            state.step += 1
            progress.update(1)
            maybe_log(accelerator, cfg, state, window, run, progress)
            validated = maybe_validate(accelerator, cfg, state, run, progress)
            saved = maybe_checkpoint(accelerator, cfg, state, batches_per_epoch)
            if validated or saved:
                window.restart_clock()  # validation and saving are not training time
            if state.step >= cfg.optim.max_steps:
                break
        else:
            state.epoch += 1
            state.batches_in_epoch = 0
    progress.close()
    return save_outputs(accelerator, run.model, processor, cfg, out)


def setup_training(accelerator: Accelerator, model, processor, cfg: TrainConfig) -> Training:
    """Data loaders, AdamW over the trainable groups, the cosine schedule, all through ``accelerator.prepare``."""
    _align_deepspeed(accelerator, cfg)
    _check_precision(accelerator, cfg)
    train_loader, val_loader = build_dataloaders(cfg, processor.collate)
    params = trainable_parameters(model)
    if not params:
        raise ValueError("no trainable parameters: check model.trainable")
    optimizer = torch.optim.AdamW(
        optimizer_groups(model, cfg.optim.lr, cfg.optim.lr_multipliers),
        lr=cfg.optim.lr,
        weight_decay=cfg.optim.weight_decay,
        betas=tuple(cfg.optim.betas),
    )
    # accelerate steps a prepared scheduler once per process per optimizer step, so the schedule is
    # counted in process-steps (accelerate docs, "Learning rate scheduling").
    n = accelerator.num_processes
    scheduler = get_cosine_with_min_lr_schedule_with_warmup(
        optimizer,
        num_warmup_steps=cfg.optim.warmup_steps * n,
        num_training_steps=cfg.optim.max_steps * n,
        min_lr_rate=cfg.optim.min_lr_ratio,
    )
    loaders = [train_loader] + ([val_loader] if val_loader is not None else [])
    model, optimizer, scheduler, *loaders = accelerator.prepare(model, optimizer, scheduler, *loaders)
    if accelerator.gradient_accumulation_steps != cfg.optim.grad_accum:
        raise ValueError(
            f"gradient accumulation is {accelerator.gradient_accumulation_steps} (launcher/DeepSpeed config) "
            f"but the training config says {cfg.optim.grad_accum}"
        )
    val_loader = loaders[1] if len(loaders) > 1 else None
    return Training(model, optimizer, scheduler, loaders[0], val_loader, params)


def resume_state(accelerator: Accelerator, cfg: TrainConfig, resume: str | None) -> TrainState:
    """A fresh :class:`TrainState`, or the one of the checkpoint ``resume`` names (``"last"``: the newest
    complete one), whose model/optimizer/scheduler/RNG states are loaded into the prepared objects."""
    state = TrainState(seed=cfg.run.seed, world_size=accelerator.num_processes)
    if resume is None:
        return state
    checkpoints_dir = Path(cfg.run.output_dir) / "checkpoints"
    path = ckpt.last_checkpoint(checkpoints_dir) if resume == "last" else Path(resume)
    if path is None:
        logger.warning("--resume: no complete checkpoint in %s, starting from scratch", checkpoints_dir)
        return state
    saved = ckpt.read_state(path)
    if saved["world_size"] != accelerator.num_processes:
        raise ValueError(
            f"{path}: saved with {saved['world_size']} processes, resuming with "
            f"{accelerator.num_processes}: the data order would differ"
        )
    ckpt.load_checkpoint(accelerator, path)
    logger.info("resumed from %s at step %d", path, saved["step"])
    return TrainState(**saved)


def prepare_output(accelerator: Accelerator, cfg: TrainConfig) -> None:
    """The output folder with the run's config in it, and the trackers."""
    out = Path(cfg.run.output_dir)
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        ckpt.restore_aside(out / FINAL_NAME)  # a crash while the last run replaced it
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
    if cfg.run.trackers:
        accelerator.init_trackers(cfg.run.project_name, config=_flat_hparams(cfg))


def train_step(accelerator: Accelerator, run: Training, batch: dict[str, Any], cfg: TrainConfig):
    """One micro-batch: forward, backward, and (at an accumulation boundary) clip and step."""
    with accelerator.accumulate(run.model):
        output = run.model(**batch)
        accelerator.backward(output.loss)
        if accelerator.sync_gradients and cfg.optim.grad_clip:
            accelerator.clip_grad_norm_(run.params, cfg.optim.grad_clip)
        run.optimizer.step()
        run.scheduler.step()
        run.optimizer.zero_grad()
    return output


def _is_due(step: int, every: int, cfg: TrainConfig) -> bool:
    return step % every == 0 or step == cfg.optim.max_steps


def maybe_log(accelerator: Accelerator, cfg: TrainConfig, state: TrainState, window, run, progress) -> None:
    """Every ``run.log_every`` steps (and at the last): the window's losses to the trackers and metrics.jsonl."""
    if not _is_due(state.step, cfg.run.log_every, cfg):
        return
    row = {"step": state.step, **window.row(accelerator), "lr": run.scheduler.get_last_lr()[0]}
    progress.set_postfix(loss=f"{row['loss']:.4f}")
    accelerator.log({f"train/{k}": v for k, v in row.items() if k != "step"}, step=state.step)
    if accelerator.is_main_process:
        _append_metrics(Path(cfg.run.output_dir) / METRICS_NAME, row)


def maybe_validate(accelerator: Accelerator, cfg: TrainConfig, state: TrainState, run, progress) -> bool:
    """Every ``run.eval_every`` steps (and at the last): validation losses; True when it ran."""
    if run.val_loader is None or not _is_due(state.step, cfg.run.eval_every, cfg):
        return False
    metrics = validate(accelerator, run.model, run.val_loader)
    accelerator.log({f"val/{k}": v for k, v in metrics.items()}, step=state.step)
    if accelerator.is_main_process:
        row = {"step": state.step, **{f"val_{k}": v for k, v in metrics.items()}}
        _append_metrics(Path(cfg.run.output_dir) / METRICS_NAME, row)
        progress.write(
            f"step {state.step} validation: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items())
        )
    run.model.train()
    return True


def maybe_checkpoint(
    accelerator: Accelerator, cfg: TrainConfig, state: TrainState, batches_per_epoch: int
) -> bool:
    """Every ``run.save_every`` steps (not the last: the final save follows): a resumable checkpoint."""
    if state.step % cfg.run.save_every or state.step >= cfg.optim.max_steps:
        return False
    saved = state
    if state.batches_in_epoch == batches_per_epoch:
        # The epoch is used up: record the next one so a resume does not replay an empty epoch.
        saved = TrainState(**{**state.to_dict(), "epoch": state.epoch + 1, "batches_in_epoch": 0})
    checkpoints_dir = Path(cfg.run.output_dir) / "checkpoints"
    ckpt.save_checkpoint(accelerator, checkpoints_dir, state.step, saved.to_dict())
    if accelerator.is_main_process:
        ckpt.prune_checkpoints(checkpoints_dir, cfg.run.keep_last)
    return True


def save_outputs(accelerator: Accelerator, model, processor, cfg: TrainConfig, out: Path) -> Path:
    """The final ``save_pretrained`` folder, and the LoRA-merged export when ``run.merge_lora``."""
    final = save_final(accelerator, model, processor, out / FINAL_NAME)
    if cfg.run.merge_lora:
        if accelerator.is_main_process:
            export_merged(final, out / MERGED_NAME)
        accelerator.wait_for_everyone()
    accelerator.end_training()
    return final


def _gathered_params(accelerator: Accelerator, model: torch.nn.Module):
    """Under ZeRO-3 every rank holds a shard of each weight: gather them (collectively) for saving."""
    ds = _deepspeed_config(accelerator)
    if ds is not None and ds.get("zero_optimization", {}).get("stage") == 3:
        import deepspeed

        return deepspeed.zero.GatheredParameters(list(model.parameters()), modifier_rank=None)
    return nullcontext()


def save_final(accelerator: Accelerator, model: torch.nn.Module, processor: Any, target: Path) -> Path:
    """Write ``save_pretrained`` model + processor to ``target`` atomically (temp folder, fsync, rename;
    an existing ``target`` is replaced by ``checkpoint.replace_dir``)."""
    accelerator.wait_for_everyone()
    tmp = target.with_name(".tmp-" + target.name)
    with _gathered_params(accelerator, model):
        if accelerator.is_main_process:
            if tmp.exists():
                shutil.rmtree(tmp)
            accelerator.unwrap_model(model).save_pretrained(tmp)
            processor.save_pretrained(tmp)
            ckpt.fsync_tree(tmp)
            ckpt.replace_dir(tmp, target)
            logger.info("saved %s", target)
    accelerator.wait_for_everyone()
    return target


def run_stage(
    stage: int, description: str, check: Callable[[TrainConfig], None], argv: list[str] | None = None
) -> int:
    """What every stage recipe does: parse the command line, check the config, set up, train, save."""
    args = build_arg_parser(description.splitlines()[0]).parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    if cfg.stage != stage:
        raise ConfigError(f"{args.config}: a stage {cfg.stage} config given to the stage {stage} recipe")
    check(cfg)
    logging.basicConfig(
        level=logging.INFO if int(os.environ.get("RANK", "0")) == 0 else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # The model is loaded before the Accelerator exists: every rank holds the full model (zero3_init_flag
    # is false in our configs) and DeepSpeed partitions it in prepare(). Loaded after, transformers/peft
    # would take their ZeRO-3 construction paths, whose peft trainable-token part is CUDA-only.
    model, processor = setup_model(cfg)
    accelerator = make_accelerator(cfg)
    fit(accelerator, model, processor, cfg, resume=args.resume)
    return 0
