"""Does stage 2 learn? Tiny model with the forensic stream, synthetic splices, CPU, a few minutes.

    python scripts/learn_check.py [--out runs/learn_check] [--steps 400]

1. builds a tiny checkpoint (forensic stream on, random backbone) and synthetic splices
   (``data_builders.synth``) with their stage-2 conversations (``train_stages.tiny``): training splices from
   one pool of scenes, held-out splices from a second pool (no background, donor or seed shared);
2. scores the untrained model on the held-out conversations (mask IoU at 0.5, per image);
3. trains stage 2 (``train_stages/stage2.py``, the tiny config) and validates every ``--eval-every`` steps;
4. prints the learning curve, saves it as ``learning_curve.png`` and ends with
   ``iou_before=<x> iou_after=<y>``.

The IoU is teacher-forced: the ground-truth answer, ``<SEG>`` included, is fed in and only the mask decoder's
output is scored. It checks that the mask path learns; ``scripts/learn_e2e.py`` checks the whole model
through ``xforge detect`` and ``xforge eval``, with generated answers.

Pass criterion: iou_after >= 3 x iou_before and iou_after > 0.3 (exit code 1 otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def baseline_iou(base: Path, valid: Path, root: Path) -> dict[str, float]:
    """Validation metrics of the untrained model (same metric code the training loop logs)."""
    from torch.utils.data import DataLoader

    from train_stages.data import ConversationDataset
    from train_stages.validate import validate
    from xforge.model import XForgeModel, XForgeProcessor

    model = XForgeModel.from_pretrained(base)
    processor = XForgeProcessor.from_pretrained(base)
    loader = DataLoader(ConversationDataset(valid, root), batch_size=4, collate_fn=processor.collate)
    return validate(None, model, loader)


def plot(curve: list[dict], losses: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot([r["step"] for r in losses], [r["loss"] for r in losses], lw=1)
    ax[0].set(xlabel="step", ylabel="training loss", title="stage 2, tiny model")
    ax[1].plot([r["step"] for r in curve], [r["val_mask_iou"] for r in curve], marker="o")
    ax[1].axhline(0.3, color="grey", ls="--", lw=1)
    ax[1].set(xlabel="step", ylabel="held-out mask IoU @0.5", ylim=(0, 1), title="validation")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/learn_check")
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--n-train", type=int, default=192)
    p.add_argument("--n-valid", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    args = p.parse_args(argv)
    out = Path(args.out).resolve()

    from train_stages.tiny import prepare_tiny_run

    start = time.time()
    run = prepare_tiny_run(
        out,
        n_train=args.n_train,
        n_valid=0,
        n_heldout=args.n_valid,
        image_size=128,
        kinds=("splice",),
        forensic_stream=True,
        pretrain_steps=0,
    )
    valid = run.heldout / "stage2_test.jsonl"
    before = baseline_iou(run.base, valid, run.heldout)
    print(f"untrained: {json.dumps(before)}", flush=True)

    train_dir = out / "stage2"
    sets = {
        "model.init_from": run.base,
        "data.train": f"[{{conversations: {run.data / 'stage2_train.jsonl'}, root: {run.data}}}]",
        "data.val": f"[{{conversations: {valid}, root: {run.heldout}}}]",
        "run.output_dir": train_dir,
        "optim.max_steps": args.steps,
        "optim.warmup_steps": 10,
        "optim.lr": args.lr,
        "optim.batch_size": 4,
        "optim.grad_accum": 1,
        "run.eval_every": args.eval_every,
        "run.save_every": args.steps,
        "run.log_every": 5,
    }
    cmd = [sys.executable, str(REPO / "train_stages" / "stage2.py")]
    cmd += ["--config", str(REPO / "train_stages" / "configs" / "stage2_tiny_cpu.yaml")]
    for key, value in sets.items():
        cmd += ["--set", f"{key}={value}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(cmd, check=True, env=env, cwd=REPO)
    train_seconds = time.time() - start

    rows = [json.loads(line) for line in (train_dir / "metrics.jsonl").read_text().splitlines()]
    curve = [{"step": 0, "val_mask_iou": before["mask_iou"]}] + [r for r in rows if "val_mask_iou" in r]
    losses = [r for r in rows if "loss" in r]
    print("learning curve (held-out mask IoU @0.5, teacher-forced):")
    for r in curve:
        print(f"  step {r['step']:>5}: mask_iou={r['val_mask_iou']:.4f}")
    plot(curve, losses, out / "learning_curve.png")
    print(f"plot: {out / 'learning_curve.png'}; total time {train_seconds:.0f}s")
    iou_before, iou_after = before["mask_iou"], curve[-1]["val_mask_iou"]
    print(f"iou_before={iou_before:.4f} iou_after={iou_after:.4f}")
    return 0 if iou_after >= 3 * iou_before and iou_after > 0.3 else 1


if __name__ == "__main__":
    sys.exit(main())
