"""The contour-aware contrastive loss: its parts, its place in the model's forward, a tiny stage-2 run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from model_helpers import tampered_example

from xforge.model import XForgeModel, XForgeProcessor
from xforge.model.losses import contrastive_loss, sample_pixels, supervised_contrastive
from xforge.model.modeling import DEFAULT_TRAINABLE

REPO = Path(__file__).resolve().parent.parent


def _square(size: int = 32) -> torch.Tensor:
    m = torch.zeros(size, size)
    m[8:24, 8:24] = 1
    return m


def test_supervised_contrastive_against_a_hand_computed_value():
    # Two classes of two unit vectors each: positives identical, negatives orthogonal.
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1, 1])
    t = 0.5
    # Each anchor: one positive at similarity 1, two negatives at 0 (self excluded).
    expected = -torch.log(torch.exp(torch.tensor(1 / t)) / (torch.exp(torch.tensor(1 / t)) + 2))
    assert torch.isclose(supervised_contrastive(z, labels, t), expected)


def test_separated_embeddings_score_lower_than_mixed_ones():
    target = _square()
    torch.manual_seed(0)
    separated = torch.stack([target, 1 - target])[None] + 0.01 * torch.randn(1, 2, 32, 32)
    mixed = torch.randn(1, 2, 32, 32)
    low = contrastive_loss(separated, [target])
    high = contrastive_loss(mixed, [target])
    assert low is not None and high is not None and low < high


def test_single_class_masks_give_no_loss():
    emb = torch.randn(2, 4, 16, 16)
    assert contrastive_loss(emb, [torch.zeros(16, 16), torch.ones(16, 16)]) is None


def test_targets_of_any_size_are_resized_to_the_embedding_grid():
    emb = torch.randn(1, 4, 16, 16, requires_grad=True)
    loss = contrastive_loss(
        emb, [torch.nn.functional.interpolate(_square()[None, None], size=(48, 40))[0, 0]]
    )
    loss.backward()
    assert emb.grad is not None and emb.grad.abs().sum() > 0


def test_sampling_keeps_the_budget_and_favours_the_contour():
    forged = _square(64).bool()
    band = torch.zeros(64, 64)
    band[6:26, 6:26] = 1
    band[10:22, 10:22] = 0  # a ring around the square's edge
    torch.manual_seed(0)
    idx = sample_pixels(forged, band, budget=128, contour_weight=20.0)
    assert len(idx) == 128 and len(set(idx.tolist())) == 128
    assert forged.flatten()[idx].sum() == 64  # half forged, half authentic
    share_in_band = band.flatten()[idx].mean()
    assert share_in_band > 3 * band.mean()  # far more band pixels than a uniform draw gives
    assert sample_pixels(forged, band, budget=10_000, contour_weight=0.0).numel() == forged.numel()
    assert sample_pixels(torch.zeros(8, 8, dtype=torch.bool), torch.zeros(8, 8), 16, 1.0) is None


def test_forward_adds_the_weighted_loss_and_its_gradient_reaches_the_mask_decoder(tiny_checkpoint):
    model = XForgeModel.from_pretrained(tiny_checkpoint)
    processor = XForgeProcessor.from_pretrained(tiny_checkpoint)
    batch = processor.collate([tampered_example(64, 80, n_seg=2)])
    with torch.no_grad():
        plain = model(**batch)
    assert plain.mask_contrastive is None  # off by default
    model.config.loss_weights.contrastive = 0.5
    with torch.no_grad():
        on = model(**batch)
    assert on.mask_contrastive is not None and torch.isfinite(on.mask_contrastive)
    assert torch.isclose(on.loss, plain.loss + 0.5 * on.mask_contrastive)
    # The contrastive term alone trains the decoder's pixel embedding (upscaling layers).
    model.set_trainable(DEFAULT_TRAINABLE)
    model.zero_grad()
    model.train()
    model(**batch).mask_contrastive.backward()
    grads = [p.grad for p in model.sam2.mask_decoder.output_upscaling.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
    assert not any(h._forward_hooks for h in model.sam2.mask_decoder.output_upscaling)  # hook removed


@pytest.mark.slow
def test_tiny_stage2_run_with_the_contrastive_loss_logs_it(tmp_path):
    from train_stages.tiny import prepare_tiny_run

    run = prepare_tiny_run(
        tmp_path / "tiny", n_train=6, n_valid=2, n_heldout=4, image_size=64, pretrain_steps=0
    )
    out = tmp_path / "stage2"
    sets = [
        f"model.init_from={run.base}",
        f"data.train=[{{conversations: {run.data / 'stage2_train.jsonl'}, root: {run.data}}}]",
        f"data.val=[{{conversations: {run.data / 'stage2_valid.jsonl'}, root: {run.data}}}]",
        f"run.output_dir={out}",
        "optim.max_steps=2",
        "optim.warmup_steps=1",
        "optim.grad_accum=1",
        "run.log_every=1",
        "run.eval_every=2",
        "run.trackers=[]",
        "model.loss_weights.contrastive=0.5",
    ]
    cmd = [sys.executable, str(REPO / "train_stages" / "stage2.py"), "--config",
           str(REPO / "train_stages" / "configs" / "stage2_tiny_cpu.yaml"), *[a for s in sets for a in ("--set", s)]]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in rows if "loss" in r]
    assert [r["step"] for r in train] == [1, 2]
    logged = [r["mask_contrastive"] for r in train if "mask_contrastive" in r]
    assert logged and all(v > 0 for v in logged)  # on tampered batches; authentic-only batches have none
    config = json.loads((out / "final" / "xforge_config.json").read_text())
    assert config["loss_weights"]["contrastive"] == 0.5
