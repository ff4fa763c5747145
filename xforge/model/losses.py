"""Mask losses: BCE, Dice and an optional edge-aware (contour-weighted) BCE.

- BCE and Dice as in LISA (Lai et al., CVPR 2024, ``model/LISA.py``: ``sigmoid_ce_loss`` and ``dice_loss``
  with +1 smoothing), averaged per mask.
- Edge-aware BCE after CaCL-Net (contour-aware localisation): pixels within ``width`` of the forged
  region's boundary get weight ``1 + edge_weight``; the boundary is the morphological gradient
  (dilation minus erosion) of the target, computed with max-pooling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


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
