"""Stage 3 -- instruction tuning (docs/ARCHITECTURE.md, "Training").

Starts from stage 2's output and trains the same modules on multi-turn, mask-grounded explanations, with
stage-2 data replayed (a second entry in ``data.train``) so localization is not forgotten. With
``run.merge_lora: true`` it also writes ``<output_dir>/merged``: the LoRA folded into the LLM weights, a
checkpoint that needs no peft at inference.

    python train_stages/stage3.py --config train_stages/configs/stage3_tiny_cpu.yaml
    accelerate launch --config_file train_stages/configs/accelerate/deepspeed_zero2.yaml \\
        train_stages/stage3.py --config train_stages/configs/stage3_qwen2_5_vl_3b.yaml
"""

from __future__ import annotations

import sys

from train_stages.config import ConfigError, TrainConfig
from train_stages.loop import run_stage

STAGE = 3


def check(cfg: TrainConfig) -> None:
    """What makes a config a stage-3 config (run_stage has already checked ``cfg.stage``)."""
    if cfg.model.init_from is None:
        raise ConfigError("stage 3 starts from stage 2's output: set model.init_from")


def main(argv: list[str] | None = None) -> int:
    return run_stage(STAGE, __doc__, check, argv)


if __name__ == "__main__":
    sys.exit(main())
