"""Does the tiny model learn, through the path a user takes? Base + stages 1-3, then detect and eval.

    python scripts/learn_e2e.py [--out runs/tiny] [--steps-scale 1.0]

1. ``train_stages.tiny``: training forgeries and a held-out set from disjoint scene pools, conversations,
   and the pre-trained tiny base (reused when ``--out`` already holds them);
2. ``train_stages/stage{1,2,3}.py`` with the ``stage{1,2,3}_tiny_cpu.yaml`` configs (paths moved under
   ``--out``; a finished stage is reused);
3. ``xforge detect --model …`` on the held-out manifest, then ``xforge eval``, for the untrained base (the
   pre-trained backbone with fresh heads, no stage run) and for the stage-3 model.

Ends with one line for the trained model:
``image_auc=… pixel_f1=… pixel_iou=… parse_rate=… grounded_pred=… minutes=…``. ``parse_rate`` is the share
of answers that state a verdict and whose location words parse back with ``xforge.location`` to a region for
a tampered verdict and to none for an authentic one; ``grounded_pred`` is the evaluator's grounding rate
against the predicted mask; ``minutes`` is the wall time of the whole script.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from xforge.location import parse_location, verdict_from_text  # noqa: E402

CONFIGS = REPO / "train_stages" / "configs"


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


def train_stage(stage: int, out: Path, init_from: Path, scale: float, extra: list[str]) -> Path:
    final = out / f"stage{stage}" / "final"
    if (final / "xforge_config.json").is_file():
        print(f"stage {stage}: reusing {final}")
        return final
    import yaml

    cfg = yaml.safe_load((CONFIGS / f"stage{stage}_tiny_cpu.yaml").read_text())
    steps = max(1, round(cfg["optim"]["max_steps"] * scale))
    data = out / "data" / "train"
    train = [
        f"{{conversations: {data / Path(s['conversations']).name}, root: {data}}}"
        for s in cfg["data"]["train"]
    ]
    sets = {
        "model.init_from": str(init_from),
        "data.train": "[" + ", ".join(train) + "]",
        "data.val": f"[{{conversations: {data / 'stage2_valid.jsonl'}, root: {data}}}]",
        "run.output_dir": str(out / f"stage{stage}"),
        "optim.max_steps": str(steps),
        "run.eval_every": str(steps),
    }
    args = [a for k, v in sets.items() for a in ("--set", f"{k}={v}")]
    args += [a for item in extra for a in ("--set", item)]
    run(
        [
            sys.executable,
            str(REPO / "train_stages" / f"stage{stage}.py"),
            "--config",
            str(CONFIGS / f"stage{stage}_tiny_cpu.yaml"),
            *args,
        ]
    )
    return final


def answer_parses(text: str, verdict: str) -> bool:
    """The answer states a verdict and its location words read back as a region (tampered) or none.

    A generated (``synthetic``) verdict must read back as generated and name no place.
    """
    stated = verdict_from_text(text or "")
    if stated is None or stated != verdict:
        return False
    cells = parse_location(text)
    return bool(cells) if verdict == "tampered" else not cells


def evaluate(model: Path, heldout: Path, out: Path) -> dict[str, float]:
    preds, report = out / "predictions", out / "report"
    manifest = heldout / "manifest.jsonl"
    xforge = [sys.executable, "-m", "xforge"]
    run(
        [
            *xforge,
            "detect",
            "--model",
            str(model),
            str(manifest),
            "--root",
            f"synth={heldout}",
            "--out",
            str(preds),
            "--batch-size",
            "8",
            "--overlays",
        ]
    )
    run(
        [
            *xforge,
            "eval",
            "--manifest",
            str(manifest),
            "--root",
            f"synth={heldout}",
            "--predictions",
            str(preds),
            "--out",
            str(report),
        ]
    )
    table = json.loads((report / "metrics.json").read_text())["datasets"]["synth"]
    rows = [
        json.loads(line) for line in (preds / "predictions.jsonl").read_text().splitlines() if line.strip()
    ]
    ok = [answer_parses(r.get("explanation", ""), r.get("verdict", "")) for r in rows if not r.get("error")]
    return {
        "image_auc": table.get("image_auc"),
        "pixel_f1": table.get("pixel_f1"),
        "pixel_iou": table.get("pixel_iou"),
        "parse_rate": sum(ok) / len(ok) if ok else 0.0,
        "grounded_pred": table.get("grounding_pred"),
        "accuracy": table.get("image_acc"),
        "balanced_accuracy": table.get("image_bacc"),
        "class_macro_f1": table.get("class_macro_f1"),
        "n_images": len(rows),
    }


def fmt(figures: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--out", default="runs/tiny", help="folder of the tiny run (created; finished parts reused)"
    )
    p.add_argument(
        "--steps-scale", type=float, default=1.0, help="multiply every stage's max_steps (quick checks)"
    )
    p.add_argument(
        "--pretrain-steps", type=int, default=None, help="base pre-training steps (default: the tiny run's)"
    )
    p.add_argument("--skip-base", action="store_true", help="do not evaluate the untrained base")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="config override for every stage, e.g. model.loss_weights.contrastive=0.1",
    )
    args = p.parse_args(argv)
    start = time.time()
    out = Path(args.out).resolve()

    from train_stages.tiny import prepare_tiny_run

    kwargs = {} if args.pretrain_steps is None else {"pretrain_steps": args.pretrain_steps}
    tiny = prepare_tiny_run(out, **kwargs)
    print(f"data and base ready after {(time.time() - start) / 60:.1f} min", flush=True)
    model = tiny.base
    for stage in (1, 2, 3):
        model = train_stage(stage, out, model, args.steps_scale, args.set)
        print(f"stage {stage} done after {(time.time() - start) / 60:.1f} min", flush=True)
    trained = evaluate(model, tiny.heldout, out / "eval" / "trained")
    minutes = (time.time() - start) / 60
    if not args.skip_base:
        base = evaluate(tiny.base, tiny.heldout, out / "eval" / "base")
        print("untrained base:", fmt(base))
    print("trained       :", fmt(trained))
    keys = ("image_auc", "pixel_f1", "pixel_iou", "parse_rate", "grounded_pred")
    print(" ".join(f"{k}={trained[k]:.4f}" for k in keys) + f" minutes={minutes:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
