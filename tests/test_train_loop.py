"""The training loop's parts in this process on the tiny model: precision, the log window, resuming."""

from __future__ import annotations

import inspect
import json
import logging
import re
from pathlib import Path

import pytest
import torch
from model_helpers import authentic_example, tampered_example

from train_stages import checkpoint as ckpt
from train_stages.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent
STAGE2_TINY = REPO / "train_stages" / "configs" / "stage2_tiny_cpu.yaml"


@pytest.fixture
def fresh_accelerate():
    """accelerate keeps its state in process-wide singletons: each test starts and ends without one."""
    from accelerate.state import AcceleratorState, GradientState

    AcceleratorState._reset_state(True)
    GradientState._reset_state()
    yield
    AcceleratorState._reset_state(True)
    GradientState._reset_state()


def _stage2_config(*sets: str):
    return load_config(STAGE2_TINY, ["run.trackers=[]", *sets])


def test_bf16_model_trains_float32_weights_that_take_small_updates(tiny_checkpoint, fresh_accelerate):
    """A model loaded in bf16 keeps its trainable parameters in float32 (frozen ones stay bf16), so one AdamW
    step at lr 1e-5 (about 1e-5 per element, far below bf16's resolution) moves every one of them."""
    from accelerate import Accelerator

    from train_stages.model_setup import setup_model
    from xforge.model.modeling import TRAINABLE_GROUPS

    cfg = _stage2_config(
        f"model.init_from={tiny_checkpoint}",
        "model.torch_dtype=bfloat16",
        "run.mixed_precision=bf16",
        f"model.trainable=[{', '.join(TRAINABLE_GROUPS)}]",
    )
    model, processor = setup_model(cfg)
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert {p.dtype for p in trainable.values()} == {torch.float32}
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.bfloat16}

    accelerator = Accelerator(mixed_precision="bf16", cpu=True)
    optimizer = torch.optim.AdamW(trainable.values(), lr=1e-5, weight_decay=0.0)
    model, optimizer = accelerator.prepare(model, optimizer)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    model.train()
    out = model(**processor.collate([tampered_example(n_seg=2), authentic_example()]))
    accelerator.backward(out.loss)
    optimizer.step()
    stepped = {n for n, p in trainable.items() if p.grad is not None and (p.grad.abs() > 1e-6).any()}
    groups = {model.group_of(n) for n in stepped}
    assert groups == set(TRAINABLE_GROUPS)  # every group got a gradient, so every group is checked
    for name in stepped:
        param = trainable[name]
        moved = param.grad.abs() > 1e-6
        assert (param.detach() != before[name])[moved].all(), name


def test_half_precision_model_needs_matching_mixed_precision(fresh_accelerate):
    from accelerate import Accelerator

    from train_stages.loop import _check_precision

    cfg = _stage2_config("model.init_from=unused", "model.torch_dtype=bfloat16")
    with pytest.raises(ConfigError, match="run.mixed_precision: bf16"):
        _check_precision(Accelerator(mixed_precision="no", cpu=True), cfg)


@pytest.mark.slow
def test_log_rows_average_their_window_and_report_every_loss_term(tmp_path, fresh_accelerate):
    """With log_every=2 a row is the mean of the two steps that log_every=1 reports one by one (same seed,
    same data order), and the edge-aware term appears once it is weighted."""
    from accelerate.state import AcceleratorState, GradientState

    from train_stages.loop import fit, make_accelerator
    from train_stages.model_setup import setup_model
    from train_stages.tiny import prepare_tiny_run

    run = prepare_tiny_run(
        tmp_path / "tiny", n_train=8, n_valid=2, n_heldout=4, image_size=64, pretrain_steps=0
    )

    def train(log_every: int) -> dict[int, dict]:
        out = tmp_path / f"log{log_every}"
        cfg = _stage2_config(
            f"model.init_from={run.base}",
            f"data.train=[{{conversations: {run.data / 'stage2_train.jsonl'}, root: {run.data}}}]",
            "data.val=[]",
            "model.loss_weights={edge: 0.5}",
            f"run.output_dir={out}",
            "optim.max_steps=4",
            "optim.grad_accum=1",
            "optim.warmup_steps=1",
            f"run.log_every={log_every}",
            "run.save_every=100",
        )
        model, processor = setup_model(cfg)
        fit(make_accelerator(cfg), model, processor, cfg)
        AcceleratorState._reset_state(True)
        GradientState._reset_state()
        rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        return {row["step"]: row for row in rows}

    every, pairs = train(1), train(2)
    assert sorted(pairs) == [2, 4]
    for step in (2, 4):
        mean = (every[step - 1]["loss"] + every[step]["loss"]) / 2
        assert pairs[step]["loss"] == pytest.approx(mean, rel=1e-5), step
        assert pairs[step]["samples_per_s"] > 0 and pairs[step]["peak_mem_gb"] > 0
    assert any("mask_edge_bce" in row for row in every.values())
    assert any("mask_edge_bce" in row for row in pairs.values())


def test_resume_warns_when_a_random_state_does_not_load(tmp_path, caplog, fresh_accelerate):
    """accelerate only logs "Could not load random states" at info level and goes on."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = torch.nn.Linear(2, 2)
    model, optimizer = accelerator.prepare(model, torch.optim.AdamW(model.parameters()))
    path = ckpt.save_checkpoint(accelerator, tmp_path, 1, {"step": 1})
    torch.rand(3)
    with caplog.at_level(logging.WARNING, logger="train_stages.checkpoint"):
        ckpt.load_checkpoint(accelerator, path)
    assert "random state" not in caplog.text  # a sound checkpoint restores it, weights-only loading included

    (path / "random_states_0.pkl").write_bytes(b"not a checkpoint")
    torch.rand(3)
    with caplog.at_level(logging.WARNING, logger="train_stages.checkpoint"):
        ckpt.load_checkpoint(accelerator, path)
    assert "random state of process 0 was not restored" in caplog.text


def test_accelerate_pin_excludes_releases_without_the_deepspeed_accumulation_boundary():
    """The loop steps the optimizer on every micro-batch and relies on accelerate (>= 1.8, PR #3630) to
    tell DeepSpeed which micro-batch ends an accumulation window."""
    from accelerate.utils.deepspeed import DeepSpeedEngineWrapper
    from packaging.requirements import Requirement

    text = (REPO / "pyproject.toml").read_text()
    (spec,) = re.findall(r'"(accelerate[<>=!~][^"]*)"', text)
    requirement = Requirement(spec)
    assert "1.7.0" not in requirement.specifier and "1.8.0" in requirement.specifier
    assert "sync_gradients" in inspect.signature(DeepSpeedEngineWrapper.backward).parameters
