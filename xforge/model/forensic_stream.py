"""Forensic stream: a small low-level branch on raw pixels, added to SAM2's image embedding.

CLIP/ViT-style encoders (and SAM2's Hiera) are trained to ignore exactly the noise residuals where splicing,
copy-move and inpainting leave traces. This branch looks at them directly:

- a constrained convolution (Bayar & Stamm, "Constrained Convolutional Neural Networks: A New Approach
  Towards General Purpose Image Manipulation Detection", IEEE TIFS 2018): each kernel's centre is -1 and
  its other taps sum to 1, so it learns prediction-error (high-pass) filters instead of image content;
- three fixed SRM high-pass kernels (Fridrich & Kodovsky, "Rich Models for Steganalysis of Digital Images",
  IEEE TIFS 2012; the three used by RGB-N, Zhou et al., CVPR 2018) on each colour channel;
- a few strided convolutions down to SAM2's embedding stride (16), then a 1x1 projection to SAM2's
  embedding width whose weights start at zero, so a fresh model behaves exactly like plain SAM2 and the
  stream's contribution is learned.

It reads the image at SAM2's input size (1024 px square), the tensor SAM2 already gets: images much larger
than that are downscaled first, which weakens the finest (pixel-level) traces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

EMBEDDING_STRIDE = 16  # SAM2's image embedding is 1/16 of its input size


def srm_kernels() -> torch.Tensor:
    """The three 5x5 SRM kernels of RGB-N, each normalised by its quantisation step: ``(3, 5, 5)``."""
    kb = (
        torch.tensor(
            [
                [0, 0, 0, 0, 0],
                [0, -1, 2, -1, 0],
                [0, 2, -4, 2, 0],
                [0, -1, 2, -1, 0],
                [0, 0, 0, 0, 0],
            ],
            dtype=torch.float32,
        )
        / 4.0
    )
    kv = (
        torch.tensor(
            [
                [-1, 2, -2, 2, -1],
                [2, -6, 8, -6, 2],
                [-2, 8, -12, 8, -2],
                [2, -6, 8, -6, 2],
                [-1, 2, -2, 2, -1],
            ],
            dtype=torch.float32,
        )
        / 12.0
    )
    second_order = (
        torch.tensor(
            [
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
                [0, 1, -2, 1, 0],
                [0, 0, 0, 0, 0],
                [0, 0, 0, 0, 0],
            ],
            dtype=torch.float32,
        )
        / 2.0
    )
    return torch.stack([kb, kv, second_order])


class ConstrainedConv2d(nn.Conv2d):
    """Bayar & Stamm's constrained convolution: centre tap -1, the other taps sum to 1 (per kernel)."""

    def constrained_weight(self) -> torch.Tensor:
        w = self.weight
        k = w.shape[-1] // 2
        centre = torch.zeros_like(w)
        centre[..., k, k] = 1.0
        off_centre = w * (1 - centre)
        # Normalise the off-centre taps to sum to one, then put -1 in the centre.
        total = off_centre.sum(dim=(-2, -1), keepdim=True)
        total = torch.where(total.abs() < 1e-6, torch.full_like(total, 1e-6), total)
        off_centre = off_centre / total
        return off_centre - centre

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.constrained_weight(), self.bias, self.stride, self.padding)


class ForensicStream(nn.Module):
    """Raw RGB in ``[0, 1]`` ``(B, 3, S, S)`` -> additive embedding ``(B, out_dim, S/16, S/16)``."""

    def __init__(self, out_dim: int, channels: int = 32, constrained_filters: int = 3):
        super().__init__()
        self.constrained = ConstrainedConv2d(3, constrained_filters, kernel_size=5, padding=2, bias=False)
        # Positive init so the off-centre normalisation is well defined from the start.
        nn.init.uniform_(self.constrained.weight, 0.0, 1.0)
        srm = srm_kernels()
        # Each SRM kernel on each colour channel separately (grouped conv): 9 residual maps.
        self.register_buffer("srm_weight", srm.repeat(3, 1, 1).unsqueeze(1), persistent=False)
        in_ch = constrained_filters + 9
        layers: list[nn.Module] = []
        for _ in range(4):  # four stride-2 stages: 1/16, SAM2's embedding stride
            layers += [
                nn.Conv2d(in_ch, channels, 3, stride=2, padding=1),
                nn.GroupNorm(min(8, channels), channels),
                nn.GELU(),
            ]
            in_ch = channels
        self.body = nn.Sequential(*layers)
        self.proj = nn.Conv2d(channels, out_dim, kernel_size=1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        pixels = pixels.to(self.proj.weight.dtype)
        srm = F.conv2d(pixels, self.srm_weight.to(pixels.dtype), padding=2, groups=3)
        residuals = torch.cat([self.constrained(pixels), srm], dim=1)
        return self.proj(self.body(residuals))
