"""Stage 2 -- localization (docs/ARCHITECTURE.md, "Training").

Starts from stage 1's output and adds LoRA on the language model: detection and localization questions
and answers over tampered and authentic images, drawn per dataset with CAT-Net's balanced sampler, so the
model learns when to say "edited", when to emit ``<SEG>``, and where the mask goes.

    python train_stages/stage2.py --config train_stages/configs/stage2_tiny_cpu.yaml
    accelerate launch --config_file train_stages/configs/accelerate/deepspeed_zero2.yaml \\
        train_stages/stage2.py --config train_stages/configs/stage2_qwen2_5_vl_3b.yaml
"""

from __future__ import annotations

import sys

from train_stages.config import ConfigError, TrainConfig
from train_stages.loop import run_stage

STAGE = 2


def check(cfg: TrainConfig) -> None:
    """What makes a config a stage-2 config (run_stage has already checked ``cfg.stage``)."""
    if "lora" not in cfg.model.trainable:
        raise ConfigError("stage 2 trains LoRA on the LLM: add 'lora' to model.trainable")
    if cfg.model.init_from is None:
        raise ConfigError("stage 2 starts from stage 1's output: set model.init_from")


def main(argv: list[str] | None = None) -> int:
    return run_stage(STAGE, __doc__, check, argv)


if __name__ == "__main__":
    sys.exit(main())
