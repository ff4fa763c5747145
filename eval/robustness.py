"""Robustness runs: perturbed copies of the evaluated images -> ``run_detect`` -> the same evaluation.

For each perturbation (``eval.perturb``) the images of every manifest are written, perturbed, under
``OUT/robustness/<tag>/images/<dataset>/`` with a matching manifest (same ids, no masks), detection runs on them
through the predictions interface (``xforge.inference.detect.run_detect``, a predictions folder) into
``OUT/robustness/<tag>/predictions``, and that folder is scored against the ORIGINAL manifests and masks.
Every step resumes: existing perturbed copies are kept, ``run_detect`` skips ids already predicted, and the
evaluation reuses its cached rows.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.perturb import Perturbation
from eval.runner import distributed_state, evaluate, load_records
from eval.scoring import EvalOptions
from xforge.data.manifest import resolve_path, root_for, write_jsonl
from xforge.data.schema import SampleRecord

log = logging.getLogger(__name__)

ROBUSTNESS_DIR = "robustness"


def write_perturbed_copies(
    manifests: Sequence[str | os.PathLike],
    roots,
    perturbation: Perturbation,
    base: Path,
    progress: bool = True,
) -> tuple[list[Path], dict[str, Path]]:
    """Perturbed images + manifests under ``base``; returns (manifests, roots) to hand to ``run_detect``.

    An image that cannot be read is logged and left out of the copies: its detection then fails with an
    error line naming the missing file, so the evaluation reports it instead of dropping it silently.
    """
    from tqdm.auto import tqdm

    from xforge.data.images import read_image

    out_manifests: list[Path] = []
    out_roots: dict[str, Path] = {}
    for manifest in manifests:
        records = load_records([manifest])
        rows: list[SampleRecord] = []
        for rec in tqdm(records, desc=f"perturb {perturbation.tag}", unit="img", disable=not progress):
            ds_root = base / "images" / rec.dataset
            out_roots[rec.dataset.lower()] = ds_root
            rel = rec.image + perturbation.suffix  # appended, so a.png and a.jpg never collide
            rows.append(SampleRecord(**{**rec.to_dict(), "image": rel, "mask": None, "mask_format": None}))
            dst = resolve_path(ds_root, rel)
            if dst.is_file():
                continue
            try:
                image = read_image(resolve_path(root_for(rec, roots), rec.image))
                data = perturbation.encode(image, seed_key=rec.id)
            except (ValueError, OSError) as exc:
                log.warning("%s: no %s copy: %s", rec.id, perturbation.tag, exc)
                continue
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(dst.name + ".tmp")
            tmp.write_bytes(data)
            os.replace(tmp, dst)  # atomic, so a killed run never leaves a half-written copy to reuse
        path = base / "manifests" / Path(manifest).name
        write_jsonl(path, rows)
        out_manifests.append(path)
    return out_manifests, out_roots


def run_robustness(
    manifests: Sequence[str | os.PathLike],
    roots,
    detector,
    out_dir: str | os.PathLike,
    perturbations: Sequence[Perturbation],
    *,
    options: EvalOptions | None = None,
    references: Sequence[str | os.PathLike] = (),
    question: str | None = None,
    progress: bool = True,
) -> dict[str, dict[str, Any]]:
    """Perturb, detect and evaluate for each perturbation; returns tag -> metrics document (main process)."""
    from xforge.inference.detect import run_detect

    state = distributed_state()
    results: dict[str, dict[str, Any]] = {}
    for p in perturbations:
        base = Path(out_dir) / ROBUSTNESS_DIR / p.tag
        if state.is_main_process:  # detection is not sharded here: one process writes the predictions
            p_manifests, p_roots = write_perturbed_copies(manifests, roots, p, base, progress)
            run_detect(
                [str(m) for m in p_manifests],
                base / "predictions",
                detector,
                question=question,
                roots=p_roots,
                progress=progress,
            )
        state.wait_for_everyone()
        results[p.tag] = evaluate(
            manifests,
            roots,
            base / "predictions",
            base,
            options=options,
            references=references,
            progress=progress,
        )
    return results
