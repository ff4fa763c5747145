"""Units of the model package: <SEG> positions, losses, forensic stream, registry, config."""

from __future__ import annotations

import pytest
import torch

from xforge.model.config import LossWeights, XForgeConfig
from xforge.model.forensic_stream import ConstrainedConv2d, ForensicStream
from xforge.model.losses import bce_loss, boundary_map, dice_loss, edge_weights
from xforge.model.registry import FAMILIES, family_for_model_type, get_family
from xforge.model.seg import SegProjector, find_seg_positions, turn_start_positions


def test_find_seg_positions_reads_token_ids():
    ids = torch.tensor([[5, 9, 7, 9, 0], [9, 1, 2, 3, 4]])
    assert find_seg_positions(ids, 9).tolist() == [[0, 1], [0, 3], [1, 0]]
    assert find_seg_positions(ids, 42).shape == (0, 2)


def test_turn_start_positions_are_the_token_before_each_answer():
    labels = torch.tensor(
        [[-100, -100, 4, 5, -100, -100, 6, -100], [-100, 1, 2, -100, -100, -100, -100, -100]]
    )
    assert turn_start_positions(labels).tolist() == [[0, 1], [0, 5], [1, 0]]


def test_projector_shapes():
    proj = SegProjector(64, 32, num_tokens=3)
    assert proj(torch.randn(5, 64)).shape == (5, 3, 32)


def test_dice_and_bce():
    target = torch.zeros(1, 8, 8)
    target[0, 2:6, 2:6] = 1
    perfect = (target * 2 - 1) * 50
    assert dice_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    assert bce_loss(perfect, target).item() == pytest.approx(0.0, abs=1e-6)
    assert dice_loss(-perfect, target).item() > 0.9


def test_edge_weights_mark_the_contour():
    target = torch.zeros(1, 9, 9)
    target[0, 3:6, 3:6] = 1
    edges = boundary_map(target, width=1)
    assert edges[0, 4, 4] == 0  # interior
    assert edges[0, 0, 0] == 0  # far background
    assert edges[0, 3, 3] == 1 and edges[0, 2, 4] == 1  # on / just outside the boundary
    assert edge_weights(target, 1, 4.0).max() == 5.0


def test_constrained_conv_is_a_prediction_error_filter():
    conv = ConstrainedConv2d(3, 4, kernel_size=5, padding=2, bias=False)
    torch.nn.init.uniform_(conv.weight, 0, 1)
    w = conv.constrained_weight()
    assert torch.allclose(w[..., 2, 2], torch.full((4, 3), -1.0))
    assert torch.allclose(w.sum(dim=(-2, -1)), torch.zeros(4, 3), atol=1e-5)
    flat = torch.full((1, 3, 16, 16), 0.5)
    assert conv(flat)[..., 2:-2, 2:-2].abs().max() < 1e-5  # constant image -> zero residual


def test_forensic_stream_starts_at_zero_and_matches_sam2_stride():
    stream = ForensicStream(out_dim=32, channels=8)
    out = stream(torch.rand(2, 3, 128, 128))
    assert out.shape == (2, 32, 8, 8)
    assert torch.count_nonzero(out) == 0  # zero-initialised projection: plain SAM2 at the start


def test_registry_and_config_round_trip(tmp_path):
    assert set(FAMILIES) == {"qwen2_5_vl", "qwen2_vl", "llava"}
    assert family_for_model_type("qwen2_5_vl").name == "qwen2_5_vl"
    with pytest.raises(ValueError, match="not supported"):
        family_for_model_type("bert")
    with pytest.raises(ValueError, match="unknown backbone family"):
        get_family("gpt")
    cfg = XForgeConfig(family="llava", loss_weights=LossWeights(bce=3.0))
    cfg.save_pretrained(tmp_path)
    assert XForgeConfig.from_pretrained(tmp_path) == cfg
    defaults = XForgeConfig().loss_weights
    assert (defaults.text, defaults.bce, defaults.dice) == (1.0, 2.0, 0.5)
    with pytest.raises(ValueError, match="unknown XForgeConfig fields"):
        XForgeConfig.from_dict({"model_type": "xforge", "colour": "red"})
