"""Finding ``<SEG>`` in a token sequence and projecting its hidden state into SAM2 prompt tokens."""

from __future__ import annotations

import torch
from torch import nn


def find_seg_positions(input_ids: torch.Tensor, seg_token_id: int) -> torch.Tensor:
    """``(n, 2)`` long tensor of ``(batch_index, position)`` for every ``<SEG>``, in reading order.

    Positions come from the token ids themselves (never from fixed offsets), so any prompt length,
    image-token count or number of ``<SEG>`` per answer works.
    """
    return (input_ids == seg_token_id).nonzero(as_tuple=False)


def turn_start_positions(labels: torch.Tensor, ignore_index: int = -100) -> torch.Tensor:
    """``(n, 2)`` positions of the token just before each supervised (assistant) span.

    That token's hidden state has read the image and the question but none of the answer, which is what the
    model also has at generation time after the prompt; the detection-score head reads it.
    """
    supervised = labels != ignore_index
    starts = supervised[:, 1:] & ~supervised[:, :-1]
    pos = starts.nonzero(as_tuple=False)
    return pos  # column 1 is already "position - 1" because of the shift


class SegProjector(nn.Module):
    """MLP from the LLM hidden size to ``num_tokens`` SAM2 prompt embeddings (LISA's text_hidden_fcs idea)."""

    def __init__(self, hidden_size: int, prompt_dim: int, num_tokens: int = 1, inner_size: int | None = None):
        super().__init__()
        inner_size = inner_size or hidden_size
        self.num_tokens = num_tokens
        self.prompt_dim = prompt_dim
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size, inner_size),
            nn.GELU(),
            nn.Linear(inner_size, prompt_dim * num_tokens),
        )

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(n, hidden_size)`` -> ``(n, num_tokens, prompt_dim)``."""
        out = self.mlp(hidden.to(self.mlp[0].weight.dtype))
        return out.view(hidden.shape[0], self.num_tokens, self.prompt_dim)


def pool_image_evidence(embedding: torch.Tensor) -> torch.Tensor:
    """``(B, C, h, w)`` map (the forensic stream's traces, or SAM2's embedding) -> ``(B, 2C)`` mean and max.

    The max keeps a small edited region visible; the mean says how the whole image looks.
    """
    return torch.cat([embedding.mean(dim=(2, 3)), embedding.amax(dim=(2, 3))], dim=1)


class ScoreHead(nn.Module):
    """Detection score: a logit that the image is edited, from one hidden state of the language model and,
    when ``image_dim`` is set, the pooled image evidence of the mask path (:func:`pool_image_evidence`).

    The language model sees the image through its vision tower, which is trained to describe content and
    resizes the image to a few hundred tokens; the forensic stream and SAM2 see it at the mask decoder's
    resolution, where the low-level traces of an edit are. Reading both lets the score rest on those traces.
    """

    def __init__(self, hidden_size: int, inner_size: int | None = None, image_dim: int = 0):
        super().__init__()
        inner_size = inner_size or max(hidden_size // 4, 16)
        self.image_dim = image_dim
        # The pooled evidence has no fixed scale (it grows as the forensic stream learns): normalised, so
        # one learning rate suits both inputs.
        self.norm = nn.LayerNorm(image_dim) if image_dim else None
        self.mlp = nn.Sequential(
            nn.Linear(hidden_size + image_dim, inner_size), nn.GELU(), nn.Linear(inner_size, 1)
        )

    def forward(self, hidden: torch.Tensor, image_evidence: torch.Tensor | None = None) -> torch.Tensor:
        dtype = self.mlp[0].weight.dtype
        if self.image_dim:
            if image_evidence is None:
                raise ValueError("this score head reads image evidence; pass pool_image_evidence(embedding)")
            hidden = torch.cat([hidden.to(dtype), self.norm(image_evidence.to(dtype))], dim=-1)
        return self.mlp(hidden.to(dtype)).squeeze(-1)
