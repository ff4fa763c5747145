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


def probe_statistics(probe_logits: torch.Tensor) -> torch.Tensor:
    """``(n, 1, h, w)`` logits of a probe mask -> ``(n, 3)``: their maximum, the mean of the top 1% and the mean.

    The maximum is MVSS-Net's global max pooling of the localization map as the image-level score (Chen et
    al., ICCV 2021); the top-1% mean and the mean make it less dependent on a single pixel.
    """
    flat = probe_logits.flatten(1).float()
    k = max(1, flat.shape[1] // 100)
    top = flat.topk(k, dim=1).values.mean(dim=1)
    return torch.stack([flat.amax(dim=1), top, flat.mean(dim=1)], dim=1)


class ScoreHead(nn.Module):
    """Detection score: a logit that the image is edited, from one hidden state of the language model and,
    when ``image_dim`` is set, the statistics of a probe mask (:func:`probe_statistics`).

    The tiny and the real language model alike see the image through a vision tower that resizes it to a
    few hundred tokens; the mask decoder sees it at SAM2's resolution with the forensic stream, where the
    traces of an edit are. With ``image_dim`` the logit is the MLP's plus a linear read-out of the probe
    mask, which starts as the probe's maximum logit (MVSS-Net's image score).
    """

    def __init__(self, hidden_size: int, inner_size: int | None = None, image_dim: int = 0):
        super().__init__()
        inner_size = inner_size or max(hidden_size // 4, 16)
        self.image_dim = image_dim
        self.mlp = nn.Sequential(nn.Linear(hidden_size, inner_size), nn.GELU(), nn.Linear(inner_size, 1))
        self.probe = None
        if image_dim:
            self.probe = nn.Linear(image_dim, 1)
            with torch.no_grad():
                self.probe.weight.zero_()
                self.probe.weight[0, 0] = 1.0
                self.probe.bias.zero_()

    def forward(self, hidden: torch.Tensor, probe_stats: torch.Tensor | None = None) -> torch.Tensor:
        logit = self.mlp(hidden.to(self.mlp[0].weight.dtype)).squeeze(-1)
        if self.probe is not None:
            if probe_stats is None:
                raise ValueError("this score head reads a probe mask; pass probe_statistics(...)")
            logit = logit + self.probe(probe_stats.to(self.probe.weight.dtype)).squeeze(-1)
        return logit


def answer_positions(input_ids, attention_mask, labels) -> torch.Tensor:
    """(sample, token) of the token before each assistant answer (training) or of each prompt's last token."""
    if labels is not None:
        return turn_start_positions(labels)
    batch = torch.arange(input_ids.shape[0], device=input_ids.device)
    if attention_mask is not None:
        return torch.stack([batch, attention_mask.sum(1) - 1], 1)
    return torch.stack([batch, torch.full_like(batch, input_ids.shape[1] - 1)], 1)
