"""Validation during training: teacher-forced pass over held-out conversations.

Each held-out conversation is run exactly as in training (its ground-truth answer, ``<SEG>`` included, is
fed in), so the mask decoder is scored on the masks it is asked for and the detection head on the score it
reads before the answer. Metrics are the evaluation's own definitions (``eval.metrics``): pixel IoU and F1
at 0.5 per image (the mean over its ``<SEG>`` masks), averaged over the tampered images, as IMDL-BenCo
averages per image; and image accuracy / AUC of the detection score over all images. Free-running
generation is ``xforge eval``'s job.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from eval.metrics.detection import image_acc, image_auc
from eval.metrics.localization import pixel_f1, pixel_iou

_NAN = float("nan")


def _per_sample(out, batch) -> torch.Tensor:
    """``(B, 5)``: mask IoU, mask F1 (NaN without masks), detection score, label (NaN when unknown), and the
    batch's loss (NaN without one)."""
    rows = []
    loss = _NAN if out.loss is None else float(out.loss)
    preds = out.pred_masks or [None] * len(batch["target_masks"])
    scores = out.score_logits
    for b, target in enumerate(batch["target_masks"]):
        iou = f1 = _NAN
        pred = preds[b]
        if pred is not None and target.shape[0]:
            probs = torch.sigmoid(pred.float()).cpu().numpy()
            pairs = list(zip(probs, target.cpu().numpy()))
            iou = float(np.mean([pixel_iou(p, t) for p, t in pairs]))
            f1 = float(np.mean([pixel_f1(p, t) for p, t in pairs]))
        score = label = _NAN
        if scores is not None and not math.isnan(float(scores[b])) and float(batch["is_tampered"][b]) >= 0:
            score, label = float(torch.sigmoid(scores[b].float())), float(batch["is_tampered"][b])
        rows.append([iou, f1, score, label, loss])
    return torch.tensor(rows, dtype=torch.float32)


@torch.no_grad()
def validate(accelerator, model, loader) -> dict[str, float]:
    """Loss, mask IoU/F1, detection accuracy/AUC and the number of samples scored over ``loader``.

    With an ``accelerator`` the per-sample values of every process are gathered batch by batch:
    ``gather_for_metrics`` drops the samples repeated to even out the last batch only while ``loader`` is
    the active dataloader, i.e. inside the loop (after it, the training loader is active again and the
    repeats would be counted). ``loss`` is the mean over samples of their batch's loss. ``None`` scores a
    plain model and loader in this process (e.g. an untrained baseline).
    """
    model.eval()
    rows = []
    for batch in loader:
        batch_rows = _per_sample(model(**batch), batch)
        if accelerator is not None:
            batch_rows = accelerator.gather_for_metrics(batch_rows.to(accelerator.device)).cpu()
        rows.append(batch_rows)
    table = (torch.cat(rows) if rows else torch.zeros((0, 5))).numpy()
    metrics: dict[str, float] = {"samples": float(len(table))}
    losses = table[:, 4][~np.isnan(table[:, 4])]
    if losses.size:
        metrics["loss"] = float(losses.mean())
    for i, name in ((0, "mask_iou"), (1, "mask_f1")):
        values = table[:, i][~np.isnan(table[:, i])]
        if values.size:
            metrics[name] = float(values.mean())
    known = ~np.isnan(table[:, 3])
    if known.any():
        labels, scores = table[known, 3].astype(int), table[known, 2]
        metrics["det_acc"] = float(image_acc(labels, scores))
        auc = image_auc(labels, scores)
        if auc is not None:
            metrics["det_auc"] = float(auc)
    return metrics
