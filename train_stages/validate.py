"""Validation during training: teacher-forced pass over held-out conversations.

Each held-out conversation is run exactly as in training (its ground-truth answer, ``<SEG>`` included, is
fed in), so the mask decoder is scored on the masks it is asked for and the detection head on the score it
reads before the answer. Metrics are the evaluation's own definitions (``eval.metrics``): per-mask pixel
IoU and F1 at 0.5 averaged over masks (tampered images only, as IMDL-BenCo averages per image), and image
accuracy / AUC of the detection score over all images. Free-running generation is ``xforge eval``'s job.
"""

from __future__ import annotations

import numpy as np
import torch

from eval.metrics.detection import image_acc, image_auc
from eval.metrics.localization import pixel_f1, pixel_iou


@torch.no_grad()
def validate(accelerator, model, loader) -> dict[str, float]:
    """Mean loss, mask IoU/F1 and detection accuracy/AUC over ``loader`` (gathered across processes)."""
    model.eval()
    losses, ious, f1s, scores, labels = [], [], [], [], []
    for batch in loader:
        out = model(**batch)
        if out.loss is not None:
            losses.append(out.loss.float().reshape(1))
        for pred, target in zip(out.pred_masks, batch["target_masks"]):
            for p, t in zip(torch.sigmoid(pred.float()).cpu().numpy(), target.cpu().numpy()):
                ious.append(pixel_iou(p, t))
                f1s.append(pixel_f1(p, t))
        if out.score_logits is not None:
            known = (batch["is_tampered"] >= 0) & ~torch.isnan(out.score_logits)
            scores.append(torch.sigmoid(out.score_logits[known].float()))
            labels.append(batch["is_tampered"][known].float())
    device = accelerator.device

    def gathered(values: list, *, tensors: bool = False) -> np.ndarray:
        local = torch.cat(values) if tensors and values else torch.tensor(values, dtype=torch.float32)
        # Padded batches (uneven last batch) are dropped again by gather_for_metrics.
        return accelerator.gather_for_metrics(local.to(device)).cpu().numpy()

    metrics: dict[str, float] = {}
    for name, values, tensors in (("loss", losses, True), ("mask_iou", ious, False), ("mask_f1", f1s, False)):
        arr = gathered(values, tensors=tensors)
        if arr.size:
            metrics[name] = float(arr.mean())
    y, s = gathered(labels, tensors=True), gathered(scores, tensors=True)
    if y.size:
        metrics["det_acc"] = float(image_acc(y.astype(int), s))
        auc = image_auc(y.astype(int), s)
        if auc is not None:
            metrics["det_auc"] = float(auc)
    return metrics
