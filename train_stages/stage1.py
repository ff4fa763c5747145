"""Stage 1 -- alignment (docs/ARCHITECTURE.md, "Training").

Teaches the new parts to talk to each other while the language model stays frozen: the SEG projector, the
SAM2 mask decoder, the forensic stream and the new token embeddings train on localization prompts with
masks and short mask-grounded captions. Stage 1 sees tampered images only (an authentic image has no mask
to align), so the detection-score head stays frozen: on one class it would learn a constant. It trains
from stage 2, where authentic images take part.

    python train_stages/stage1.py --config train_stages/configs/stage1_tiny_cpu.yaml
    accelerate launch --config_file train_stages/configs/accelerate/deepspeed_zero2.yaml \\
        train_stages/stage1.py --config train_stages/configs/stage1_qwen2_5_vl_3b.yaml
"""

from __future__ import annotations

import sys

from train_stages.config import ConfigError, TrainConfig
from train_stages.loop import run_stage

STAGE = 1


def check(cfg: TrainConfig) -> None:
    """What makes a config a stage-1 config (run_stage has already checked ``cfg.stage``)."""
    if "lora" in cfg.model.trainable:
        raise ConfigError("stage 1 keeps the LLM frozen: remove 'lora' from model.trainable")
    if "score_head" in cfg.model.trainable:
        raise ConfigError(
            "stage 1 trains on tampered images only, so the score head would learn a constant: "
            "remove 'score_head' from model.trainable (it trains from stage 2)"
        )


def main(argv: list[str] | None = None) -> int:
    return run_stage(STAGE, __doc__, check, argv)


if __name__ == "__main__":
    sys.exit(main())
