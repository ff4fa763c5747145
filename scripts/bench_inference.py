"""Inference latency: per-image `detect` and first-turn vs later-turn `chat`, classical engine and a model.

The model is the tiny test checkpoint (``xforge.testing.build_tiny_checkpoint``) unless ``--model`` names a
real one. Chat turns: the first turn includes encoding the image (vision tower + SAM2 image encoder); later
turns reuse those features, so they should cost at most half of the first. Every turn generates the same
number of tokens (``--new-tokens``; a random tiny model never stops by itself) so turns compare fairly.
The tiny model's encoders take milliseconds, so its turns cost about the same; ``--sam2-large`` adds a tiny
language model with the real-size SAM2 encoder, where the saving shows. ``*_detect_b4_*`` runs detect with
``--batch-size 4``: SAM2 encodes the batch in one call and the answers are generated as one batch.

Prints the figures last, on one line of name=value pairs (seconds).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from xforge.inference import Detector
from xforge.inference.detect import run_detect

QUESTIONS = ("Is this image edited? If so, where?", "Why do you think so?", "What kind of edit is it?")


def make_images(folder: Path, n: int, size: int) -> list[np.ndarray]:
    """``n`` textured pictures with a copy-moved block, written as JPEG files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = []
    for i in range(n):
        base = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (0, 0), size / 200 + 1)
        base = np.clip(base.astype(np.int16) + rng.normal(0, 3, base.shape), 0, 255).astype(np.uint8)
        s = size // 5
        base[-s - 8 : -8, -s - 8 : -8] = base[8 : 8 + s, 8 : 8 + s]
        cv2.imwrite(str(folder / f"img{i:03d}.jpg"), cv2.cvtColor(base, cv2.COLOR_RGB2BGR))
        images.append(base)
    return images


def time_detect(detector: Detector, folder: Path, out: Path, batch_size: int) -> float:
    """Seconds per image of run_detect over the folder (a fresh predictions folder)."""
    summary = run_detect([folder], out, detector, batch_size=batch_size, progress=False)
    if summary["errors"]:
        raise RuntimeError(f"{summary['errors']} images failed: see {summary['predictions']}")
    return summary["seconds"] / summary["done"]


def time_chat(detector: Detector, images: list[np.ndarray], sync) -> tuple[float, float]:
    """Median first-turn (encode + answer) and later-turn seconds over a chat per image."""
    first, later = [], []
    for image in images:
        sync()
        t0 = time.perf_counter()
        session = detector.chat(image)
        session.ask(QUESTIONS[0])
        sync()
        first.append(time.perf_counter() - t0)
        for q in QUESTIONS[1:]:
            t0 = time.perf_counter()
            session.ask(q)
            sync()
            later.append(time.perf_counter() - t0)
    return statistics.median(first), statistics.median(later)


def time_prepare(detector: Detector, images: list[np.ndarray], sync) -> float:
    """Median seconds of the per-image work alone (image encoders, or the classical analysis)."""
    times = []
    for image in images:
        sync()
        t0 = time.perf_counter()
        detector.backend.prepare(image)
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_model(name, path, images, tmp_path, args, device, sync, with_detect) -> dict[str, str]:
    """Figures of one checkpoint: detect per image (single and batched), encode, chat turns."""
    model = Detector.from_pretrained(
        path, device=device, torch_dtype=args.dtype, max_new_tokens=args.new_tokens
    )
    time_chat(model, images[:1], sync)  # warm-up: lazy initialisation and kernel selection
    out: dict[str, str] = {}
    if with_detect:
        folder = tmp_path / "images"
        out[f"{name}_detect_s_per_img"] = f"{time_detect(model, folder, tmp_path / f'{name}_1', 1):.4f}"
        batched = time_detect(model, folder, tmp_path / f"{name}_b", args.batch_size)
        out[f"{name}_detect_b{args.batch_size}_s_per_img"] = f"{batched:.4f}"
    out[f"{name}_encode_s"] = f"{time_prepare(model, images, sync):.4f}"
    first, later = time_chat(model, images, sync)
    out[f"{name}_chat_first_s"] = f"{first:.4f}"
    out[f"{name}_chat_later_s"] = f"{later:.4f}"
    out[f"{name}_later_over_first"] = f"{later / first:.3f}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=6, help="images per measurement")
    ap.add_argument("--size", type=int, default=512, help="side of the test images in pixels")
    ap.add_argument("--model", help="checkpoint to time instead of the tiny test model")
    ap.add_argument("--device", default=None, help="device for the model (default: cuda if available)")
    ap.add_argument("--dtype", default=None, help="model dtype (default: the checkpoint's)")
    ap.add_argument("--new-tokens", type=int, default=32, help="tokens generated per turn")
    ap.add_argument("--batch-size", type=int, default=4, help="batch size of the batched detect run")
    ap.add_argument(
        "--sam2-large",
        action="store_true",
        help="also time a tiny LLM with a real-size SAM2 encoder (Hiera-L, 1024 px; slow on a CPU)",
    )
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    figures: dict[str, str] = {"device": device, "size": str(args.size), "images": str(args.images)}
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        images = make_images(tmp_path / "images", args.images, args.size)

        classical = Detector.default()
        figures["classical_detect_s_per_img"] = (
            f"{time_detect(classical, tmp_path / 'images', tmp_path / 'c', 1):.4f}"
        )
        c_first, c_later = time_chat(classical, images, sync)
        figures["classical_chat_first_s"] = f"{c_first:.4f}"
        figures["classical_chat_later_s"] = f"{c_later:.5f}"

        models: list[tuple[str, str | Path, list[np.ndarray], bool]] = []
        if args.model:
            models.append(("model", args.model, images, True))
        else:
            from xforge.testing import build_tiny_checkpoint

            models.append(("tiny", build_tiny_checkpoint(tmp_path / "tiny"), images, True))
            if args.sam2_large:
                # Tiny language model, real-size SAM2 image encoder (Hiera-L at 1024 px, random weights):
                # shows what reusing the image features saves when the encoder is the real one.
                from xforge.model.config import Sam2Config

                large = Sam2Config(
                    config="configs/sam2.1/sam2.1_hiera_l.yaml", checkpoint=None, image_size=1024
                )
                path = build_tiny_checkpoint(tmp_path / "sam2l", sam2=large)
                models.append(("tiny_sam2l", path, images[:2], False))
        for name, path, imgs, with_detect in models:
            figures.update(bench_model(name, path, imgs, tmp_path, args, device, sync, with_detect))
    print(" ".join(f"{k}={v}" for k, v in figures.items()))


if __name__ == "__main__":
    main()
