"""Merge LoRA into the language model: an exportable checkpoint whose backbone needs no adapter.

    python -m train_stages.export --checkpoint runs/x/stage3/final --out runs/x/stage3/merged

``<out>/backbone`` is a plain transformers model (``AutoModelForImageTextToText.from_pretrained`` loads it,
with the ``<SEG>`` embedding row folded in by peft's ``merge_and_unload``). The folder is also a complete
xforge checkpoint -- ``xforge chat``/``xforge eval`` and the next training stage load it -- whose adapter is a
fresh LoRA of the same shape (zero ``lora_B``, so it changes nothing) ready for further fine-tuning.
Written to a temp folder, fsync'ed and renamed, like every checkpoint.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import shutil
from pathlib import Path

from train_stages.checkpoint import fsync_tree

logger = logging.getLogger(__name__)


def export_merged(checkpoint: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Write ``checkpoint`` with its LoRA merged into ``out``; returns ``out``."""
    from peft import get_peft_model

    from xforge.model import XForgeModel, XForgeProcessor
    from xforge.model.checkpoint import BACKBONE_DIR

    out = Path(out)
    model = XForgeModel.from_pretrained(checkpoint)
    processor = XForgeProcessor.from_pretrained(checkpoint)
    lora_config = copy.deepcopy(model.vlm.peft_config[model.vlm.active_adapter])
    merged = model.vlm.merge_and_unload()

    tmp = out.with_name(".tmp-" + out.name)
    if tmp.exists():
        shutil.rmtree(tmp)
    merged.save_pretrained(tmp / BACKBONE_DIR)
    processor.hf_processor.save_pretrained(tmp / BACKBONE_DIR)
    model.vlm = get_peft_model(merged, lora_config)  # identity adapter on the merged weights
    model.config.base_model = BACKBONE_DIR
    model.root = tmp  # the backbone now lives in the exported folder itself
    model.save_pretrained(tmp)
    processor.save_pretrained(tmp)
    fsync_tree(tmp)
    if out.exists():
        shutil.rmtree(out)
    os.replace(tmp, out)
    logger.info("merged LoRA of %s into %s", checkpoint, out)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="xforge checkpoint folder (a stage's final/)")
    p.add_argument("--out", required=True, help="folder to write the merged checkpoint to")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    export_merged(args.checkpoint, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
