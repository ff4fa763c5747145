"""Mask losses: BCE, Dice and an optional edge-aware (contour-weighted) BCE.

- BCE and Dice as in LISA (Lai et al., CVPR 2024, ``model/LISA.py``: ``sigmoid_ce_loss`` and ``dice_loss``
  with +1 smoothing), averaged per mask.
- Edge-aware BCE after CaCL-Net (contour-aware localisation): pixels within ``width`` of the forged
  region's boundary get weight ``1 + edge_weight``; the boundary is the morphological gradient
  (dilation minus erosion) of the target, computed with max-pooling.
- Contour-aware contrastive loss after CaCL-Net: per-pixel embeddings of the mask decoder, forged vs
  authentic, as a supervised contrastive loss (Khosla et al., NeurIPS 2020) over a fixed budget of pixels
  drawn per mask, contour-band pixels drawn more often (:func:`contrastive_loss`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from xforge.model.config import LossOptions

# Each loss term: its weight's name (``LossWeights.<name>``, the training config's ``model.loss_weights``)
# -> its ``XForgeOutput`` field (what the training log reports).
LOSS_TERMS = {
    "text": "text_loss",
    "bce": "mask_bce",
    "dice": "mask_dice",
    "score": "score_loss",
    "edge": "mask_edge_bce",
    "contrastive": "mask_contrastive",
}


def bce_loss(
    logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean per-pixel sigmoid BCE of each mask, averaged over masks. Shapes ``(n, H, W)``."""
    loss = F.binary_cross_entropy_with_logits(logits, targets, weight=weights, reduction="none")
    return loss.flatten(1).mean(1).mean()


def dice_loss(logits: torch.Tensor, targets: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``1 - (2 |P.T| + s) / (|P| + |T| + s)`` per mask on sigmoid probabilities, averaged over masks."""
    probs = logits.sigmoid().flatten(1)
    targets = targets.flatten(1)
    numerator = 2 * (probs * targets).sum(1) + smooth
    denominator = probs.sum(1) + targets.sum(1) + smooth
    return (1 - numerator / denominator).mean()


def boundary_map(targets: torch.Tensor, width: int) -> torch.Tensor:
    """1 on pixels within ``width`` px of a mask boundary (morphological gradient), else 0. ``(n, H, W)``."""
    kernel = 2 * width + 1
    x = targets.unsqueeze(1)
    dilated = F.max_pool2d(x, kernel, stride=1, padding=width)
    eroded = -F.max_pool2d(-x, kernel, stride=1, padding=width)
    return (dilated - eroded).squeeze(1)


def edge_weights(targets: torch.Tensor, width: int, edge_weight: float) -> torch.Tensor:
    return 1.0 + edge_weight * boundary_map(targets, width)


def sample_pixels(
    forged: torch.Tensor, band: torch.Tensor, budget: int, contour_weight: float
) -> torch.Tensor | None:
    """Flat indices of up to ``budget`` pixels of one ``(h, w)`` mask: half forged, half authentic (each
    class without replacement), a pixel in the contour ``band`` ``1 + contour_weight`` times as likely to be
    drawn as one away from it. ``None`` when the mask lacks one of the classes."""
    forged, band = forged.flatten(), band.flatten()
    weights = 1.0 + contour_weight * band
    picked = []
    for cls in (forged, ~forged):
        n = int(cls.sum())
        if n == 0:
            return None
        w = torch.where(cls, weights, torch.zeros_like(weights))
        picked.append(torch.multinomial(w, min(n, budget // 2), replacement=False))
    return torch.cat(picked)


def supervised_contrastive(z: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """SupCon (Khosla et al. 2020): for each anchor, ``-mean over positives p of log softmax_a(z.z_a / t)[p]``,
    the softmax over every other sample; ``z`` L2-normalised ``(m, c)``, ``labels`` ``(m,)``."""
    sim = z @ z.T / temperature
    eye = torch.eye(len(z), dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(eye, float("-inf"))
    log_prob = (sim - torch.logsumexp(sim, dim=1, keepdim=True)).masked_fill(eye, 0.0)
    positives = (labels[:, None] == labels[None, :]) & ~eye
    count = positives.sum(1)
    per_anchor = -(log_prob * positives).sum(1) / count.clamp(min=1)
    return per_anchor[count > 0].mean()


def contrastive_loss(
    embeddings: torch.Tensor,
    targets: Sequence[torch.Tensor],
    *,
    band_width: int = 2,
    contour_weight: float = 4.0,
    budget: int = 256,
    temperature: float = 0.1,
) -> torch.Tensor | None:
    """Contour-aware contrastive loss of ``embeddings`` ``(n, c, h, w)`` (one per mask) against ``n`` target
    masks (each ``(H_i, W_i)`` in 0/1, any size), averaged over the masks that have both forged and
    authentic pixels (``None`` if none has). A target is area-resized to the embedding grid (forged where
    more than half is forged); its contour band is ``band_width`` grid pixels either side of the boundary
    (:func:`boundary_map`)."""
    h, w = embeddings.shape[-2:]
    per_mask = []
    for emb, target in zip(embeddings, targets):
        small = F.interpolate(target[None, None].float(), size=(h, w), mode="area")[0]
        forged = small[0] > 0.5
        band = boundary_map(forged[None].float(), band_width)[0]
        idx = sample_pixels(forged, band, budget, contour_weight)
        if idx is None:
            continue
        z = F.normalize(emb.flatten(1)[:, idx].T.float(), dim=1)
        per_mask.append(supervised_contrastive(z, forged.flatten()[idx].long(), temperature))
    return torch.stack(per_mask).mean() if per_mask else None


def mask_losses(
    preds: Sequence[torch.Tensor], target_masks: Sequence[torch.Tensor], edge_width: int | None
) -> dict[str, torch.Tensor]:
    """BCE, Dice and (when ``edge_width`` is given) edge-aware BCE, each averaged over every mask of the
    batch; ``preds`` and ``target_masks`` hold a sample's masks each. Samples without masks contribute
    nothing; an empty dict when no sample has one."""
    sums: dict[str, list[torch.Tensor]] = {"bce": [], "dice": [], "edge": []}
    count = 0
    for pred, target in zip(preds, target_masks):
        if target.shape[0] == 0:
            continue
        if target.shape[0] != pred.shape[0]:
            raise ValueError(f"{pred.shape[0]} <SEG> tokens but {target.shape[0]} target masks in a sample")
        target = target.to(pred.device, torch.float32)
        n = target.shape[0]
        sums["bce"].append(bce_loss(pred, target) * n)
        sums["dice"].append(dice_loss(pred, target) * n)
        if edge_width is not None:
            sums["edge"].append(bce_loss(pred, target, edge_weights(target, edge_width, 1.0)) * n)
        count += n
    return {k: torch.stack(v).sum() / count for k, v in sums.items() if v}


def probe_loss(
    probe: torch.Tensor,
    rows: torch.Tensor,
    target: torch.Tensor,
    target_masks: Sequence[torch.Tensor] | None,
    synthetic: torch.Tensor | None = None,
) -> torch.Tensor:
    """Pixel BCE of the detection probe masks ``(n, 1, h, w)`` at their low resolution: the union of a
    sample's masks when it is edited, nothing when it is authentic, everything when it was generated as a
    whole (``target`` 1/0 and ``synthetic`` 1/0/-1 per probe, sample ``rows``); edited samples without masks
    and unknown labels are skipped."""
    probe = probe[:, 0].float()
    maps, keep = [], []
    generated = synthetic.tolist() if synthetic is not None else [0] * len(target)
    for i, (b, t, g) in enumerate(zip(rows.tolist(), target.tolist(), generated)):
        masks = target_masks[b] if target_masks is not None else None
        if t == 0:
            maps.append(torch.zeros_like(probe[i]))
        elif t == 1 and g == 1:
            maps.append(torch.ones_like(probe[i]))
        elif t == 1 and masks is not None and masks.shape[0]:
            union = masks.amax(dim=0)[None, None].to(probe.device, torch.float32)
            maps.append(F.interpolate(union, size=probe.shape[-2:], mode="area")[0, 0])
        else:
            continue
        keep.append(i)
    if not keep:
        return probe.sum() * 0.0
    return F.binary_cross_entropy_with_logits(probe[keep], torch.stack(maps))


def batch_contrastive_loss(
    pixel_embeddings: torch.Tensor,
    sample_index: torch.Tensor,
    target_masks: Sequence[torch.Tensor],
    options: LossOptions,
) -> torch.Tensor | None:
    """:func:`contrastive_loss` over every mask of a batch; ``pixel_embeddings`` rows follow the <SEG>
    order, ``sample_index`` gives each row's sample."""
    rows = [pixel_embeddings[sample_index == b] for b in range(len(target_masks))]
    pairs = [(e, t) for e, t in zip(rows, target_masks) if t.shape[0] and t.shape[0] == e.shape[0]]
    if not pairs:
        return None
    return contrastive_loss(
        torch.cat([e for e, _ in pairs]),
        [m.to(pixel_embeddings.device) for _, t in pairs for m in t],
        contour_weight=options.contrastive_contour_weight,
        budget=options.contrastive_pixels,
        temperature=options.contrastive_temperature,
    )
