"""Batch evaluation: manifests + a predictions folder -> per-image rows -> per-dataset tables -> report.

``evaluate()`` joins every manifest record with its prediction line by ``id``, scores images in a thread
pool (decoding PNGs and counting histograms release the GIL), shards the images across processes with
accelerate (``accelerate launch -m xforge eval ...``: each process scores ``split_between_processes`` of the
list, rows are gathered on the main process, which checks that every image came back exactly once), and
resumes: each process appends finished rows to ``OUT/cache/rows.rank<i>.jsonl``; a rerun reuses every cached
row whose inputs (prediction line, mask files' size and mtime, options) have not changed, whatever the
number of processes was.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from eval.aggregate import AVERAGE, average_table, dataset_table
from eval.metrics import explanation as xm
from eval.references import load_references
from eval.scoring import EvalOptions, ImageJob, make_job, score_image
from xforge.data.manifest import read_manifest
from xforge.data.schema import SampleRecord
from xforge.predictions import read_predictions

log = logging.getLogger(__name__)

CACHE_DIR = "cache"


class EvalError(ValueError):
    """Inputs that cannot be evaluated together (the message says which file and why)."""


def distributed_state():
    """accelerate's process state, checked against the launcher's WORLD_SIZE / RANK rather than trusted.

    Scoring is CPU work, so the processes form a CPU (gloo) group even on GPU machines; this also makes
    ``accelerate launch --multi_gpu --num_processes N`` / ``torchrun`` shard on machines without a GPU.
    """
    from accelerate import PartialState

    from xforge.distributed import check_world

    state = PartialState(cpu=True)
    check_world(state.process_index, state.num_processes)
    return state


def load_records(manifests: Sequence[str | os.PathLike]) -> list[SampleRecord]:
    """Every record of every manifest; ids must be unique across them (predictions are keyed by id)."""
    records: list[SampleRecord] = []
    seen: dict[str, Path] = {}
    for m in manifests:
        for rec in read_manifest(m):
            if rec.id in seen:
                raise EvalError(f"{m}: id {rec.id!r} already appears in {seen[rec.id]}; ids must be unique")
            seen[rec.id] = Path(m)
            records.append(rec)
    return records


def load_predictions(pred_dir: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """id -> prediction line; a repeated id keeps its last line (a re-run appended a newer answer).

    Older lines get their ``scores`` derived (``xforge.predictions.complete_prediction``). A line that
    breaks the format is logged (file and line) and stands for its id as an error line saying why, so the
    image is scored as a failure with that reason in ``per_image.csv`` instead of as "no prediction".
    """
    pred_dir = Path(pred_dir)
    if not (pred_dir / "predictions.jsonl").is_file():
        raise EvalError(f"{pred_dir}: no predictions.jsonl (run `xforge detect` first)")
    invalid: dict[str, str] = {}
    rows, problems = read_predictions(pred_dir, invalid=invalid)
    for message in problems:
        log.warning("%s", message)
    loaded = {i: {"id": i, "error": f"unusable prediction line: {why}"} for i, why in invalid.items()}
    loaded.update({row["id"]: row for row in rows})
    return loaded


def _cache_rows(out_dir: Path) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for path in sorted((out_dir / CACHE_DIR).glob("rows.rank*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line torn by a killed run; its image is scored again
            rows[row["id"]] = row
    return rows


class _CacheWriter:
    def __init__(self, out_dir: Path, rank: int) -> None:
        path = out_dir / CACHE_DIR / f"rows.rank{rank}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(path, "a", encoding="utf-8")

    def write(self, row: dict[str, Any]) -> None:
        self._f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()


def _wants_text(row: dict[str, Any], refs: dict[str, list[str]]) -> bool:
    return row["status"] == "ok" and isinstance(row.get("explanation"), str) and bool(refs.get(row["id"]))


def _add_text_scores(
    rows: list[dict[str, Any]], refs: dict[str, list[str]], options: EvalOptions
) -> list[int]:
    """Per-image CSS / ROUGE-L / METEOR for rows that lack them; returns the indices updated."""
    todo = [
        i
        for i, r in enumerate(rows)
        if _wants_text(r, refs) and (r.get("references") != refs[r["id"]] or "css" not in r)
    ]
    if not todo:
        return []
    hyps = [rows[i]["explanation"] for i in todo]
    ref_lists = [refs[rows[i]["id"]] for i in todo]
    css = xm.css_scores(hyps, ref_lists, model=options.css_model, device=options.device)
    rouge = xm.rouge_l_scores(hyps, ref_lists)
    meteor = xm.meteor_scores(hyps, ref_lists)
    for k, i in enumerate(todo):
        rows[i].update(references=ref_lists[k], css=css[k], rouge_l=rouge[k], meteor=meteor[k])
    return todo


def score_jobs(
    jobs: Sequence[ImageJob],
    options: EvalOptions,
    *,
    cached: dict[str, dict[str, Any]],
    refs: dict[str, list[str]],
    out_dir: Path,
    rank: int = 0,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Rows for ``jobs`` (this process's shard): cached rows reused, the rest scored in a thread pool."""
    from tqdm.auto import tqdm

    rows: list[dict[str, Any] | None] = [None] * len(jobs)
    todo = []
    for i, job in enumerate(jobs):
        hit = cached.get(job.record.id)
        if hit is not None and hit.get("fp") == job.fingerprint:
            rows[i] = hit
        else:
            todo.append(i)
    if len(todo) < len(jobs):
        log.info("process %d: %d of %d images reused from the cache", rank, len(jobs) - len(todo), len(jobs))
    writer = _CacheWriter(out_dir, rank)
    try:
        with (
            ThreadPoolExecutor(max_workers=max(1, options.workers)) as pool,
            tqdm(total=len(todo), unit="img", desc=f"eval[{rank}]", disable=not progress) as bar,
        ):
            for i, row in zip(todo, pool.map(lambda i: score_image(jobs[i], options), todo)):
                rows[i] = row
                writer.write(row)
                bar.update(1)
        if "explanation" in options.metrics:
            for i in _add_text_scores(rows, refs, options):
                writer.write(rows[i])
    finally:
        writer.close()
    return rows  # type: ignore[return-value]


def _explanation_table(rows: list[dict[str, Any]]) -> dict[str, Any]:
    scored = [r for r in rows if r["status"] == "ok" and "css" in r]
    if not scored:
        return {}
    hyps = [r["explanation"] for r in scored]
    refs = [r["references"] for r in scored]
    cider, per_image = xm.cider(hyps, refs)
    for r, c in zip(scored, per_image):
        r["cider"] = c
    n = len(scored)
    return {
        "css": sum(r["css"] for r in scored) / n,
        "rouge_l": sum(r["rouge_l"] for r in scored) / n,
        "bleu4": xm.bleu4(hyps, refs),
        "meteor": sum(r["meteor"] for r in scored) / n,
        "cider": cider,
        "n_explained": n,
    }


def build_tables(rows: list[dict[str, Any]], options: EvalOptions) -> dict[str, dict[str, Any]]:
    """Per-dataset tables in first-seen order, plus the average row."""
    by_ds: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        by_ds.setdefault(r["dataset"], []).append(r)
    tables = {}
    for ds, ds_rows in by_ds.items():
        text = _explanation_table(ds_rows) if "explanation" in options.metrics else None
        tables[ds] = dataset_table(ds_rows, text, options.threshold)
    tables[AVERAGE] = average_table(tables)
    return tables


def _check_coverage(rows: list[dict[str, Any]], expected: list[str]) -> None:
    got = [r["id"] for r in rows]
    if len(got) != len(set(got)):
        dup = sorted({i for i in got if got.count(i) > 1})[:5]
        raise RuntimeError(f"gathered rows hold duplicate ids {dup}: processes overlapped")
    missing = set(expected) - set(got)
    if missing:
        raise RuntimeError(
            f"{len(missing)} images never came back from the processes, e.g. {sorted(missing)[:5]}"
        )


def evaluate(
    manifests: Sequence[str | os.PathLike],
    roots: dict[str, str | os.PathLike],
    predictions: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    *,
    options: EvalOptions | None = None,
    references: Sequence[str | os.PathLike] = (),
    write: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Score ``predictions`` against ``manifests``; write the report to ``out_dir`` on the main process.

    ``predictions`` is one folder for every manifest, or one folder per manifest (same order). Returns the
    metrics document (what ``metrics.json`` holds; an empty dict on processes other than the main one).
    """
    from accelerate.utils import gather_object

    options = options or EvalOptions()
    out = Path(out_dir)
    manifests = list(manifests)
    pred_dirs = (
        [Path(predictions)] if isinstance(predictions, (str, os.PathLike)) else [Path(p) for p in predictions]
    )
    if len(pred_dirs) not in (1, len(manifests)):
        raise EvalError(
            f"{len(pred_dirs)} predictions folders for {len(manifests)} manifests: give 1 or one each"
        )
    state = distributed_state()
    jobs: list[ImageJob] = []
    all_records: list[SampleRecord] = []
    per_manifest = [load_records([m]) for m in manifests]  # a bad manifest is named before anything else
    if not any(per_manifest):
        raise EvalError(f"no record to evaluate: {', '.join(map(str, manifests))} hold no record")
    loaded = {d: load_predictions(d) for d in dict.fromkeys(pred_dirs)}
    for k, records in enumerate(per_manifest):
        pred_dir = pred_dirs[k if len(pred_dirs) > 1 else 0]
        all_records += records
        jobs += [make_job(r, roots, loaded[pred_dir].get(r.id), pred_dir, options) for r in records]
    ids = [j.record.id for j in jobs]
    if len(ids) != len(set(ids)):
        raise EvalError("an id appears in more than one manifest; ids must be unique across manifests")
    refs = load_references(all_records, references) if "explanation" in options.metrics else {}
    cached = _cache_rows(out)
    with state.split_between_processes(jobs) as shard:
        rows = score_jobs(
            shard, options, cached=cached, refs=refs, out_dir=out, rank=state.process_index, progress=progress
        )
    rows = gather_object(rows)
    if not state.is_main_process:
        return {}
    _check_coverage(rows, ids)
    order = {i: k for k, i in enumerate(ids)}
    rows.sort(key=lambda r: order[r["id"]])
    tables = build_tables(rows, options)
    document = {
        "datasets": {k: v for k, v in tables.items() if k != AVERAGE},
        AVERAGE: tables[AVERAGE],
        "options": {k: v for k, v in json.loads(options.fingerprint()).items()},
        "inputs": {
            "manifests": [str(m) for m in manifests],
            "predictions": [str(p) for p in pred_dirs],
            "processes": state.num_processes,
        },
    }
    if write:
        from eval.report import write_report

        write_report(out, document, rows, options)
    return document
