"""The synthetic forgery generator: sources in, forged/authentic images + exact masks + a manifest out.

Sample ``i`` is drawn from its own random stream ``numpy.random.default_rng([seed, i])``, so a seed
reproduces the same output whatever the number of workers, and kinds cycle through ``cfg.kinds`` so each kind
gets an equal share. Output layout under ``out``::

    images/000000.jpg|png   masks/000000.png   [originals/000000.png]
    manifest.jsonl          (SampleRecords, dataset "synth", paths relative to out)
    report.json             (counts, skipped sources with reasons, failed samples, seed and settings)

Each record's ``meta`` says how the sample was made (coordinates are pixels of the image *before*
post-processing; a ``resize`` op gives the factor to map them):

- every sample: ``kind``, ``host`` (source name), ``postprocess`` (ops in order: ``resize`` factor/size,
  ``blur`` sigma, ``noise`` sigma, ``jpeg`` quality -- the saved file), ``n_regions`` for edits;
- splice: ``donor``, ``region`` (object / polygon / ellipse / blob), ``object_label``, ``scale``,
  ``rotation_deg``, ``colour_match``, ``feather_sigma``, ``donor_jpeg_quality`` (the "other camera"
  recompression, or null), ``donor_noise_sigma``, ``box``;
- copy-move: ``rotation_deg``, ``scale``, ``offset`` (target centre minus source centre), ``source_box``,
  ``target_box``, ``matrix`` (2x3 affine, source to target pixel coordinates), ``mask_marks``
  (``target`` or ``both``), ``feather_sigma``;
- removal: ``inpaint_method``, ``inpaint_radius``, ``box``;
- multi: ``n_sources`` and ``sources`` (one splice record per source, in mask-label order 1..k);
- generated: ``simulator`` (``upsampling``, ``factor``, ``size`` before post-processing, and for
  ``transposed`` the ``kernel_jitter`` and ``kernel_size``); label ``synthetic``, manipulation
  ``full-synthetic``, no mask (``generated.py``).
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from data_builders.synth.config import SynthConfig
from data_builders.synth.edits import EditError, Forgery, Source, copy_move, multi_source, removal, splice
from data_builders.synth.generated import generated
from data_builders.synth.postprocess import Processed, postprocess
from data_builders.synth.sources import SourceEntry, SourceError, SourcePool
from xforge.data.manifest import write_jsonl
from xforge.data.masks import MULTI_SOURCE_STEP
from xforge.data.schema import SampleRecord

log = logging.getLogger(__name__)

DATASET = "synth"
_DRAWS = 20  # attempts to find a readable host/donor, or a placeable edit, before giving up on a sample


@dataclass
class Sample:
    """One generated sample before it is written: the edit (None for authentic) and its post-processing."""

    index: int
    kind: str
    host: Source
    forgery: Forgery | None
    processed: Processed


def _draw_source(pool: SourcePool, rng: np.random.Generator, exclude: set[int]) -> tuple[int, Source]:
    for _ in range(_DRAWS):
        idx = int(rng.integers(len(pool)))
        if idx in exclude or pool.is_bad(idx):
            continue
        source = pool.get(idx)
        if source is not None:
            return idx, source
    # Few usable images left: scan in order so a small folder still works.
    for idx in range(len(pool)):
        if idx not in exclude and (source := pool.get(idx)) is not None:
            return idx, source
    raise SourceError("not enough readable source images for this sample")


def make_sample(index: int, pool: SourcePool, cfg: SynthConfig, seed: int) -> Sample:
    """Generate sample ``index`` (deterministic in ``seed`` and ``index``)."""
    rng = np.random.default_rng([seed, index])
    kind = cfg.kinds[index % len(cfg.kinds)]
    last_error: Exception | None = None
    for _ in range(_DRAWS):
        host_idx, host = _draw_source(pool, rng, set())
        try:
            if kind == "authentic":
                forgery = None
            elif kind == "splice":
                forgery = splice(host, _draw_source(pool, rng, {host_idx})[1], rng, cfg)
            elif kind == "copy-move":
                forgery = copy_move(host, rng, cfg)
            elif kind == "removal":
                forgery = removal(host, rng, cfg)
            elif kind == "generated":
                forgery = generated(host, rng, cfg)
            else:
                k = int(rng.integers(cfg.multi_sources[0], cfg.multi_sources[1] + 1))
                used, donors = {host_idx}, []
                for _ in range(k):
                    idx, donor = _draw_source(pool, rng, used)
                    used.add(idx)
                    donors.append(donor)
                forgery = multi_source(host, donors, rng, cfg)
        except EditError as exc:
            last_error = exc
            continue
        if forgery is None:
            processed = postprocess(host.image, None, rng, cfg)
        else:
            processed = postprocess(forgery.image, forgery.mask, rng, cfg)
        return Sample(index, kind, host, forgery, processed)
    raise EditError(f"sample {index} ({kind}): {last_error}")


def _png(image: np.ndarray) -> bytes:
    arr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    ok, buf = cv2.imencode(".png", arr)
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def mask_file_bytes(mask: np.ndarray, mask_format: str) -> bytes:
    """The mask as written: 0/255 for ``white_forged``, gray ``50*i`` for ``multi_source_gray`` (SafireMS)."""
    scale = MULTI_SOURCE_STEP if mask_format == "multi_source_gray" else 255
    return _png((mask.astype(np.uint16) * scale).clip(0, 255).astype(np.uint8))


def write_sample(sample: Sample, out: Path, save_originals: bool, split: str) -> SampleRecord:
    stem = f"{sample.index:06d}"
    p = sample.processed
    image_rel = f"images/{stem}.jpg" if p.jpeg_bytes is not None else f"images/{stem}.png"
    (out / image_rel).write_bytes(p.jpeg_bytes if p.jpeg_bytes is not None else _png(p.image))
    meta: dict[str, Any] = {"kind": sample.kind, "host": sample.host.name, "postprocess": p.ops}
    mask_rel = mask_format = None
    manipulation: list[str] = []
    if sample.forgery is not None:
        f = sample.forgery
        manipulation = f.manipulation
        meta.update(f.meta)
        if f.mask is not None:
            mask_rel, mask_format = f"masks/{stem}.png", f.mask_format
            (out / mask_rel).write_bytes(mask_file_bytes(p.mask, mask_format))
            meta["n_regions"] = f.meta.get("n_sources", 1)
    original_rel = None
    if save_originals:
        original_rel = f"originals/{stem}.png"
        (out / original_rel).write_bytes(_png(sample.host.image))
    h, w = p.image.shape[:2]
    return SampleRecord(
        id=f"{DATASET}/{stem}",
        dataset=DATASET,
        split=split,
        image=image_rel,
        label="authentic" if sample.forgery is None else sample.forgery.label,
        mask=mask_rel,
        mask_format=mask_format,
        manipulation=manipulation,
        width=w,
        height=h,
        original=original_rel,
        meta=meta,
    )


# Worker state for the multiprocessing pool (one SourcePool per process, built once).
_WORKER: dict[str, Any] = {}


def _init_worker(entries, cfg, seed, out, save_originals, child=True) -> None:
    if child:
        cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe
    _WORKER.update(
        pool=SourcePool(entries, cfg.max_side),
        cfg=cfg,
        seed=seed,
        out=Path(out),
        save_originals=save_originals,
        reported=set(),
    )


def _work(index: int) -> tuple[int, dict | None, str | None, dict[str, str]]:
    w = _WORKER
    try:
        sample = make_sample(index, w["pool"], w["cfg"], w["seed"])
        record = write_sample(sample, w["out"], w["save_originals"], w["cfg"].split).to_dict()
        error = None
    except (EditError, SourceError) as exc:
        record, error = None, str(exc)
    new_bad = {p: r for p, r in w["pool"].bad.items() if p not in w["reported"]}
    w["reported"].update(new_bad)
    return index, record, error, new_bad


def generate(
    entries: list[SourceEntry],
    out: str | os.PathLike,
    n: int,
    cfg: SynthConfig,
    *,
    seed: int = 0,
    workers: int = 1,
    save_originals: bool = False,
) -> dict[str, Any]:
    """Generate ``n`` samples into ``out``; returns the report (also written to ``out/report.json``)."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if not entries:
        raise SourceError("no source images given")
    needs_donors = {"splice": 2, "multi": 1 + cfg.multi_sources[0]}
    for kind, need in needs_donors.items():
        if kind in cfg.kinds and len(entries) < need:
            raise SourceError(f"kind {kind!r} needs at least {need} source images, {len(entries)} given")
    out = Path(out)
    for sub in ("images", "masks") + (("originals",) if save_originals else ()):
        (out / sub).mkdir(parents=True, exist_ok=True)
    records: dict[int, dict] = {}
    failed: dict[int, str] = {}
    skipped: dict[str, str] = {}
    args = (entries, cfg, seed, str(out), save_originals)
    if workers <= 1:
        _init_worker(*args, child=False)
        results = map(_work, range(n))
        pool = None
    else:
        pool = get_context("spawn").Pool(workers, initializer=_init_worker, initargs=args)
        results = pool.imap_unordered(_work, range(n), chunksize=4)
    try:
        for index, record, error, bad in tqdm(results, total=n, desc="synth", unit="img"):
            skipped.update(bad)
            if record is not None:
                records[index] = record
            else:
                failed[index] = error
                log.warning("sample %d not generated: %s", index, error)
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    if not records:
        reasons = "; ".join(f"{p}: {r}" for p, r in list(skipped.items())[:5]) or next(
            iter(failed.values()), ""
        )
        raise SourceError(f"no sample could be generated ({reasons})")
    rows = [records[i] for i in sorted(records)]
    write_jsonl(out / "manifest.jsonl", rows)
    report = {
        "requested": n,
        "written": len(rows),
        "by_kind": dict(Counter(r["meta"]["kind"] for r in rows)),
        "skipped_sources": [{"path": p, "reason": r.split(": ", 1)[-1]} for p, r in sorted(skipped.items())],
        "failed_samples": [{"index": i, "reason": r} for i, r in sorted(failed.items())],
        "seed": seed,
        "config": cfg.to_dict(),
    }
    (out / "report.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report
