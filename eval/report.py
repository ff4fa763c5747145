"""The evaluation report: metrics.json, metrics.md, per_image.csv, ROC / PR / confusion plots and a qualitative
grid.

``metrics.json``: ``datasets`` (per dataset a flat mapping with these keys -- ``pixel_f1``,
``pixel_iou``, ``pixel_precision``, ``pixel_recall``, ``pixel_auc``, ``pixel_f1_best``, ``ciou``, ``giou``,
``image_auc``, ``image_ap``, ``image_acc``, ``image_bacc``, ``image_f1``, ``class_acc``, ``class_macro_f1``,
``class_f1_authentic``, ``class_f1_tampered``, ``class_f1_synthetic``, ``class_confusion``, ``css``, ``rouge_l``, ``bleu4``,
``meteor``, ``cider``, ``grounding_pred``, ``grounding_gt``, ``n_images``, ``n_tampered`` -- wherever the
metric applies, plus the ``*_inv`` / ``*_border`` variants when asked and a few more counts), ``average``
(the same keys; its ``class_confusion`` is the datasets' matrices summed), ``robustness`` (per perturbation the same structure, when run), ``options``, ``inputs``
and ``definitions`` (what every key means, so the file explains itself).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from eval.aggregate import AVERAGE, CLASS_KEYS, CONFUSION, COUNT_KEYS, metric_keys
from eval.metrics.explanation import METEOR_LABEL
from eval.scoring import EvalOptions, counted
from xforge.atomic import atomic_write
from xforge.inference.result import CLASSES

log = logging.getLogger(__name__)

DEFINITIONS = {
    "pixel_f1": "mean over tampered images of pixel F1 at p > 0.5 (IMDL-BenCo / TruFor F1_th)",
    "pixel_iou": "mean over tampered images of pixel IoU of the forged class at p > 0.5",
    "pixel_precision": "mean over tampered images of pixel precision at p > 0.5",
    "pixel_recall": "mean over tampered images of pixel recall at p > 0.5",
    "pixel_auc": "mean over tampered images of pixel ROC AUC (images with a one-class mask left out)",
    "pixel_f1_best": "ORACLE: mean over tampered images of the F1 at each image's own best threshold",
    "ciou": "LISA cIoU: sum of intersections / sum of unions over the tampered images, at p > 0.5",
    "giou": "LISA gIoU: mean per-image IoU at p > 0.5, empty mask and empty prediction counting 1",
    "image_auc": "image-level ROC AUC, edited images positive",
    "image_ap": "image-level average precision, edited images positive",
    "image_acc": "image-level accuracy at score > 0.5",
    "image_bacc": "image-level balanced accuracy at score > 0.5 (mean of TPR and TNR)",
    "image_f1": "image-level F1 at score > 0.5, edited images positive",
    "class_acc": "three-class accuracy (authentic / tampered / synthetic): manifest label vs predicted verdict",
    "class_macro_f1": "three-class macro-F1: mean per-class F1 over the classes in the truth or the predictions "
    "(sklearn f1_score average='macro'; SIDA's detection F1)",
    "class_f1_authentic": "F1 of the authentic class, one-vs-rest (null when neither true nor predicted)",
    "class_f1_tampered": "F1 of the tampered (edited region) class, one-vs-rest",
    "class_f1_synthetic": "F1 of the synthetic (fully generated) class, one-vs-rest",
    "class_confusion": "3x3 counts, rows = true class, columns = predicted class, order authentic, tampered, "
    "synthetic; missing or unusable predictions count as authentic (found nothing)",
    "css": "cosine similarity of sentence embeddings, explanation vs reference (FakeShield's CSS)",
    "rouge_l": "ROUGE-L F-measure (rouge-score), best reference, mean over images",
    "bleu4": "corpus BLEU-4 (nltk), smoothing method1",
    "meteor": METEOR_LABEL + ", mean over images",
    "cider": "CIDEr-D (pycocoevalcap), IDF from this set's references",
    "grounding_pred": "share of explanations whose named region agrees with the PREDICTED mask",
    "grounding_gt": "share of explanations whose named region agrees with the GROUND-TRUTH mask",
    "qes": "mean QES of the predicted maps (MIML): count(p > 15/16) / count(p > 1/16), no ground truth used",
    "qes_f1_spearman": "Spearman's rho between per-image QES and pixel F1 over the localization set",
    "n_qes": "images with a predicted map (rated by QES)",
    "n_images": "images in the manifest(s)",
    "n_tampered": "edited images (tampered or synthetic): the positives of the two-way detection metrics",
    "n_synthetic": "fully generated images (label synthetic); never in localization",
    "n_localized": "tampered images with a ground-truth mask and a usable prediction (localization set)",
    "n_missing": "images with no prediction line",
    "n_errors": "images whose prediction or ground truth could not be used (reasons in per_image.csv)",
    "n_scored_as_failure": "missing or unusable predictions scored as answers that found nothing "
    "(score 0, empty mask), so they lower the metrics instead of vanishing from them",
    "n_left_out": "images in no metric: a ground truth that cannot be used, or --skip-missing",
    "n_gt_resized": "ground-truth masks of another size than their image, resampled (--resize-masks)",
    "n_auc_undefined": "tampered images left out of pixel_auc because their mask is all forged or empty",
    "n_explained": "images with both an explanation and a reference",
    "*_inv": "inverted-map variant: max of the score of the map and of 1 - map (TruFor), per image",
    "*_border": "TruFor border exclusion: positives eroded 15x15, negatives outside the mask dilated 11x11",
}

HEADINGS = {
    "pixel_f1": "px F1",
    "pixel_iou": "px IoU",
    "pixel_precision": "px Prec",
    "pixel_recall": "px Rec",
    "pixel_auc": "px AUC",
    "pixel_f1_best": "px F1 best (oracle)",
    "ciou": "cIoU",
    "giou": "gIoU",
    "image_auc": "img AUC",
    "image_ap": "img AP",
    "image_acc": "img Acc",
    "image_bacc": "img bAcc",
    "image_f1": "img F1",
    "class_acc": "3-class Acc",
    "class_macro_f1": "3-class macro-F1",
    "class_f1_authentic": "F1 authentic",
    "class_f1_tampered": "F1 tampered",
    "class_f1_synthetic": "F1 synthetic",
    "css": "CSS",
    "rouge_l": "ROUGE-L",
    "bleu4": "BLEU-4",
    "meteor": "METEOR*",
    "cider": "CIDEr-D",
    "grounding_pred": "grounded (pred mask)",
    "grounding_gt": "grounded (GT mask)",
    "qes": "QES",
    "qes_f1_spearman": "rho(QES, px F1)",
    "n_qes": "n rated",
}


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    return f"{float(value):.3f}"


def _section(
    title: str,
    keys: list[str],
    tables: dict[str, dict[str, Any]],
    note: str = "",
    first_column: str = "dataset",
) -> list[str]:
    keys = [k for k in keys if any(k in t for t in tables.values())]
    if not keys:
        return []
    names = [HEADINGS.get(k.split("_inv")[0].split("_border")[0], k) + _variant(k) for k in keys]
    lines = [f"### {title}", ""]
    if note:
        lines += [note, ""]
    lines += [f"| {first_column} | " + " | ".join(names) + " |", "|---|" + "---|" * len(keys)]
    for ds, t in tables.items():
        name = f"**{ds}**" if ds == AVERAGE else ds
        lines.append(f"| {name} | " + " | ".join(_fmt(t.get(k)) for k in keys) + " |")
    return [*lines, ""]


def _variant(key: str) -> str:
    if key.endswith("_border_inv"):
        return " [border, inv]"
    if key.endswith("_border"):
        return " [border]"
    if key.endswith("_inv"):
        return " [inv]"
    return ""


def _summary_line(ds: str, t: dict[str, Any]) -> str:
    """One plain sentence per dataset: what the model did, for a person skimming the report."""
    generated = f" ({t['n_synthetic']} of them fully generated)" if t.get("n_synthetic") else ""
    parts = [f"- **{ds}**: {t['n_images']} images, {t['n_tampered']} edited{generated}."]
    if t.get("image_acc") is not None:
        parts.append(
            f"Detection at 0.5: accuracy {_fmt(t['image_acc'])}, balanced accuracy {_fmt(t.get('image_bacc'))}, "
            f"AUC {_fmt(t.get('image_auc'))}."
        )
    if t.get("class_macro_f1") is not None:
        parts.append(
            f"Verdict classes (authentic / tampered / synthetic): accuracy {_fmt(t.get('class_acc'))}, "
            f"macro-F1 {_fmt(t['class_macro_f1'])}."
        )
    if t.get("n_localized"):
        parts.append(
            f"Localization on {t['n_localized']} tampered images: mean pixel F1 {_fmt(t.get('pixel_f1'))} at 0.5 "
            f"(best-threshold oracle {_fmt(t.get('pixel_f1_best'))}), IoU {_fmt(t.get('pixel_iou'))}."
        )
    if t.get("grounding_pred") is not None:
        parts.append(
            f"Explanations agree with the predicted mask in {100 * t['grounding_pred']:.0f}% of answers."
        )
    problems = t.get("n_missing", 0) + t.get("n_errors", 0)
    if problems:
        parts.append(
            f"{t.get('n_missing', 0)} images had no prediction and {t.get('n_errors', 0)} failed "
            f"({t.get('n_scored_as_failure', 0)} scored as failures, {t.get('n_left_out', 0)} left out; "
            "see per_image.csv)."
        )
    return " ".join(parts)


def markdown(document: dict[str, Any], options: EvalOptions, plots: list[str]) -> str:
    """metrics.md: the tables a person reads, with what each number means."""
    tables = {**document["datasets"], AVERAGE: document[AVERAGE]}
    keys = metric_keys(options.inverted, options.border)
    loc_keys = [k for k in keys if k.startswith("pixel_")] + ["ciou", "giou"]
    lines = ["# xforge evaluation", ""]
    lines += [
        f"Manifests: {', '.join(document['inputs']['manifests'])}  ",
        f"Predictions: {', '.join(document['inputs']['predictions'])}  ",
        f"Detection score from: `{options.score_from}`; threshold {options.threshold}; "
        f"{document['inputs']['processes']} process(es).  ",
        (
            "Missing or unusable predictions: **left out of every metric (--skip-missing)**, which flatters "
            "the numbers."
            if options.skip_missing
            else "Missing or unusable predictions: scored as answers that found nothing (score 0, empty mask)."
        ),
        "",
        "## Counts",
        "",
    ]
    lines += _section("Images", list(COUNT_KEYS) + ["n_explained"], tables)
    lines += ["## In short", ""] + [_summary_line(ds, t) for ds, t in document["datasets"].items()] + [""]
    lines += ["## Metrics", ""]
    lines += _section(
        "Localization (tampered images only, per image then averaged)",
        loc_keys,
        tables,
        "F1 best is an oracle (threshold chosen per image with the ground truth); [inv] = max of map and "
        "1 - map; [border] = TruFor border exclusion. These variants are never mixed into the plain columns.",
    )
    lines += _section(
        "Detection (all images, edited = positive, threshold 0.5)",
        list(("image_auc", "image_ap", "image_acc", "image_bacc", "image_f1")),
        tables,
    )
    lines += class_section(tables)
    lines += _section(
        "Explanation", ["css", "rouge_l", "bleu4", "meteor", "cider"], tables, "*" + METEOR_LABEL + "."
    )
    lines += _section(
        "Grounding consistency (share of explanations whose named region agrees with the mask)",
        ["grounding_pred", "grounding_gt"],
        tables,
    )
    lines += _section(
        "Mask quality without ground truth (QES, MIML; per image in per_image.csv)",
        ["qes", "n_qes", "qes_f1_spearman"],
        tables,
        "QES = share of confident pixels (p > 15/16) among all marked ones (p > 1/16); rho says how well it "
        "ranks this model's masks the way pixel F1 does.",
    )
    if document.get("robustness"):
        rows = {"clean": document[AVERAGE], **{t: r[AVERAGE] for t, r in document["robustness"].items()}}
        lines += _section(
            "Robustness (average over datasets; per-dataset numbers in metrics.json)",
            [k for k in keys if not k.endswith(("_inv", "_border"))],
            rows,
            "Each row re-runs detection on perturbed copies of the images and scores them against the "
            "original masks.",
            first_column="perturbation",
        )
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    lines += ["## Definitions", ""] + [f"- `{k}`: {v}" for k, v in DEFINITIONS.items()] + [""]
    return "\n".join(lines)


def classes_present(cm: Any) -> list[str]:
    """The classes that occur in a confusion matrix's truth or predictions, in CLASSES order."""
    cm = np.asarray(cm)
    return [c for i, c in enumerate(CLASSES) if cm[i].sum() or cm[:, i].sum()]


def class_section(tables: dict[str, dict[str, Any]]) -> list[str]:
    """The three-class table and the pooled confusion matrix as numbers (the plot is confusion.png)."""
    pooled = tables.get(AVERAGE, {}).get(CONFUSION)
    if pooled is None:
        return []
    present = classes_present(pooled)
    two_class = "synthetic" not in present
    note = (
        "Manifest label vs the predicted verdict; a missing or unusable prediction counts as authentic. "
        + (
            "No image is labelled synthetic and no prediction says synthetic, so this is a two-class "
            "(authentic / tampered) evaluation: the synthetic column is n/a and macro-F1 averages two classes."
            if two_class
            else "Macro-F1 averages the per-class F1 over the classes present (sklearn's convention)."
        )
    )
    lines = _section(
        "Three-way verdict (authentic / tampered / synthetic, as SIDA reports)",
        list(CLASS_KEYS),
        tables,
        note,
    )
    shown = present or list(CLASSES)
    index = [CLASSES.index(c) for c in shown]
    lines += [
        "Confusion matrix, all datasets pooled (rows: true class, columns: predicted class):",
        "",
        "| true \\ predicted | " + " | ".join(shown) + " |",
        "|---|" + "---|" * len(shown),
    ]
    cm = np.asarray(pooled)
    lines += [f"| {CLASSES[i]} | " + " | ".join(str(int(cm[i, j])) for j in index) + " |" for i in index]
    return [*lines, ""]


CSV_FIRST = ("id", "dataset", "label", "status", "error", "score", "verdict")
CSV_SKIP = {"fp", "references", "image_path", "gt_mask_path", "pred_mask_path"}


def _csv_value(value: Any) -> Any:
    """Empty cells for undefined values (None, NaN) so spreadsheets do not read them as numbers."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return value


def _savefig(fig, path: Path, dpi: int) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    atomic_write(path, buf.getvalue())


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """One line per image: identity, status, every per-image number, the explanation, the paths last."""
    keys = list(CSV_FIRST)
    for r in rows:
        keys += [k for k in r if k not in keys and k not in CSV_SKIP]
    keys += ["image_path", "gt_mask_path", "pred_mask_path"]
    f = io.StringIO(newline="")
    w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: _csv_value(r.get(k)) for k in keys})
    atomic_write(path, f.getvalue().encode("utf-8", "backslashreplace"))


def plot_curves(out: Path, rows: list[dict[str, Any]]) -> list[str]:
    """roc.png and pr.png: image-level curves, one line per dataset with both classes scored."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import precision_recall_curve, roc_curve

    by_ds: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if counted(r) and r.get("score") is not None:
            by_ds.setdefault(r["dataset"], []).append(r)
    by_ds = {d: rs for d, rs in by_ds.items() if len({r["y"] for r in rs}) == 2}
    if not by_ds:
        return []
    written = []
    for name, title in (("roc.png", "Image-level ROC"), ("pr.png", "Image-level precision-recall")):
        fig, ax = plt.subplots(figsize=(5, 5))
        for ds, rs in by_ds.items():
            y = [r["y"] for r in rs]
            s = [r["score"] for r in rs]
            if name == "roc.png":
                fpr, tpr, _ = roc_curve(y, s)
                ax.plot(fpr, tpr, label=ds)
            else:
                prec, rec, _ = precision_recall_curve(y, s)
                ax.plot(rec, prec, label=ds)
        if name == "roc.png":
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            ax.set(xlabel="false positive rate", ylabel="true positive rate")
        else:
            ax.set(xlabel="recall", ylabel="precision")
        ax.set(title=title, xlim=(0, 1), ylim=(0, 1.02))
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        _savefig(fig, out / name, dpi=110)
        plt.close(fig)
        written.append(name)
    return written


def plot_confusion(out: Path, document: dict[str, Any]) -> list[str]:
    """confusion.png: the three-class confusion matrix per dataset (and pooled, with several datasets).

    Cells show counts, coloured by the share of their row (the true class's recall), so datasets of any
    size read alike; classes in neither the truth nor the predictions of every panel are left out.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(ds, t[CONFUSION]) for ds, t in document["datasets"].items() if t.get(CONFUSION) is not None]
    if len(panels) > 1 and document.get(AVERAGE, {}).get(CONFUSION) is not None:
        panels.append(("all datasets", document[AVERAGE][CONFUSION]))
    panels = [(name, np.asarray(cm)) for name, cm in panels if np.asarray(cm).sum()]
    if not panels:
        return []
    shown = [c for c in CLASSES if any(c in classes_present(cm) for _, cm in panels)]
    index = [CLASSES.index(c) for c in shown]
    fig, axes = plt.subplots(1, len(panels), figsize=(1.2 + 3.2 * len(panels), 3.6), squeeze=False)
    for ax, (name, cm) in zip(axes[0], panels):
        cm = cm[np.ix_(index, index)]
        share = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for i in range(len(shown)):
            for j in range(len(shown)):
                ax.text(
                    j,
                    i,
                    str(int(cm[i, j])),
                    ha="center",
                    va="center",
                    fontsize=9,
                    color="white" if share[i, j] > 0.6 else "black",
                )
        ax.set_xticks(range(len(shown)), shown, fontsize=8, rotation=20)
        ax.set_yticks(range(len(shown)), shown, fontsize=8)
        ax.set(xlabel="predicted", ylabel="true", title=name[:40])
    kind = "Three-way" if len(shown) == 3 else "Two-class (no generated image)"
    fig.suptitle(f"{kind} verdicts: counts, colour = share of the true class", fontsize=9)
    fig.tight_layout()
    _savefig(fig, out / "confusion.png", dpi=110)
    plt.close(fig)
    return ["confusion.png"]


def plot_f1_histogram(out: Path, rows: list[dict[str, Any]]) -> list[str]:
    """f1_hist.png: how per-image pixel F1 at 0.5 spreads over the tampered images, per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_ds: dict[str, list[float]] = {}
    for r in rows:
        if counted(r) and "pixel_f1" in r:
            by_ds.setdefault(r["dataset"], []).append(r["pixel_f1"])
    if not by_ds:
        return []
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.hist(list(by_ds.values()), bins=np.linspace(0, 1, 21), label=list(by_ds), histtype="bar")
    ax.set(
        xlabel="per-image pixel F1 at 0.5", ylabel="tampered images", title="Localization quality per image"
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    _savefig(fig, out / "f1_hist.png", dpi=110)
    plt.close(fig)
    return ["f1_hist.png"]


def _thumb(arr: np.ndarray, size: int = 256) -> np.ndarray:
    import cv2

    h, w = arr.shape[:2]
    f = size / max(h, w)
    return (
        cv2.resize(arr, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        if f < 1
        else arr
    )


def plot_qualitative(out: Path, rows: list[dict[str, Any]], k: int = 4) -> list[str]:
    """qualitative.png: the k best and k worst tampered images by pixel F1 -- image, ground truth, prediction."""
    import cv2
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from xforge.data.images import read_image
    from xforge.data.masks import decode_mask

    loc = [r for r in rows if r["status"] == "ok" and "pixel_f1" in r and r.get("image_path")]
    if not loc or k <= 0:
        return []
    ranked = sorted(loc, key=lambda r: (r["pixel_f1"], r.get("pixel_f1_best") or 0.0), reverse=True)
    n_best = min(k, (len(ranked) + 1) // 2)  # few images: split them, so "worst" is never empty
    n_worst = min(k, len(ranked) - n_best)
    picks = [("best", r) for r in ranked[:n_best]] + [("worst", r) for r in ranked[::-1][:n_worst]]
    fig, axes = plt.subplots(len(picks), 3, figsize=(9, 3 * len(picks)), squeeze=False)
    for row_axes, (kind, r) in zip(axes, picks):
        try:
            image = _thumb(read_image(r["image_path"]))
            gt = decode_mask(r["gt_mask_path"], r["mask_format"])
            gt = _thumb((gt > 0).astype(np.uint8) * 255)
            pred = cv2.imread(r["pred_mask_path"], cv2.IMREAD_GRAYSCALE) if r.get("pred_mask_path") else None
            pred = _thumb(pred) if pred is not None else np.zeros_like(gt)
        except (ValueError, OSError) as exc:
            log.warning("qualitative grid: %s: %s", r["id"], exc)
            for ax in row_axes:
                ax.axis("off")
            continue
        panels = (image, gt, pred)
        # Two short lines of what the model said, so a person sees text and mask side by side.
        said = "\n".join(textwrap.wrap(r.get("explanation") or "", 42, max_lines=2, placeholder="..."))
        titles = (
            f"{kind}: {r['id']}"[:40] + (f"\n{said}" if said else ""),
            "ground truth",
            f"prediction F1={r['pixel_f1']:.2f}",
        )
        for ax, panel, title in zip(row_axes, panels, titles):
            ax.imshow(panel, cmap=None if panel.ndim == 3 else "gray", vmin=0, vmax=255)
            ax.set_title(title, fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    _savefig(fig, out / "qualitative.png", dpi=90)
    plt.close(fig)
    return ["qualitative.png"]


PLOTS = ("roc.png", "pr.png", "confusion.png", "f1_hist.png", "qualitative.png")


def write_summary(out: Path, document: dict[str, Any], options: EvalOptions) -> None:
    """metrics.json and metrics.md (the plots already in ``out`` are linked)."""
    document = {**document, "definitions": DEFINITIONS}
    plots = [p for p in PLOTS if (out / p).is_file()]
    # Through temp files: a killed run leaves the previous report, never a truncated one.
    atomic_write(out / "metrics.json", json.dumps(_json_safe(document), indent=2) + "\n")
    atomic_write(out / "metrics.md", markdown(document, options, plots).encode("utf-8", "backslashreplace"))


def write_report(
    out: Path, document: dict[str, Any], rows: list[dict[str, Any]], options: EvalOptions
) -> None:
    """Write every report file into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name in PLOTS:  # a rerun must not link plots of an earlier run that this one could not draw
        (out / name).unlink(missing_ok=True)
    write_csv(out / "per_image.csv", rows)
    plot_curves(out, rows)
    plot_confusion(out, document)
    plot_f1_histogram(out, rows)
    plot_qualitative(out, rows)
    write_summary(out, document, options)
    log.info("report written to %s", out)


def add_robustness(
    out: Path, document: dict[str, Any], robust: dict[str, dict[str, Any]], options: EvalOptions
) -> dict[str, Any]:
    """Add each perturbation's tables to the document under ``robustness`` and rewrite the summary."""
    document = {
        **document,
        "robustness": {tag: {"datasets": d["datasets"], AVERAGE: d[AVERAGE]} for tag, d in robust.items()},
    }
    write_summary(out, document, options)
    return document
