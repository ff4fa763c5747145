"""Robustness perturbations: parsing, and that each one does what its name says."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from eval.perturb import Perturbation, parse_perturbations


def test_parse_issue_example():
    ps = parse_perturbations("jpeg:50,70,90 blur:3,7 noise:5,15 resize:0.5")
    assert [p.tag for p in ps] == [
        "jpeg50",
        "jpeg70",
        "jpeg90",
        "blur3",
        "blur7",
        "noise5",
        "noise15",
        "resize0.5",
    ]


@pytest.mark.parametrize(
    "bad", ["jpeg", "jpeg:0", "jpeg:70.5", "blur:4", "noise:-1", "resize:0", "sharpen:3", "jpeg:x"]
)
def test_parse_rejects_bad_specs(bad):
    with pytest.raises(ValueError, match="perturbation|must"):
        parse_perturbations([bad])


def test_each_perturbation_changes_the_image_as_named():
    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8), (5, 5), 0)
    jpeg = Perturbation("jpeg", 50).apply(img)
    assert jpeg.shape == img.shape and 0 < np.abs(jpeg.astype(int) - img).mean() < 20
    decoded = cv2.imdecode(np.frombuffer(Perturbation("jpeg", 50).encode(img), np.uint8), cv2.IMREAD_COLOR)
    assert np.array_equal(decoded[:, :, ::-1], jpeg)  # the file holds exactly the one lossy round trip
    blur = Perturbation("blur", 7).apply(img)
    assert blur.std() < img.std()
    noisy = Perturbation("noise", 15).apply(img, seed_key="x")
    assert np.array_equal(noisy, Perturbation("noise", 15).apply(img, seed_key="x"))
    assert 8 < (noisy.astype(float) - img).std() < 16
    assert Perturbation("resize", 0.5).apply(img).shape == (32, 40, 3)
    with pytest.raises(ValueError, match="HxWx3"):
        Perturbation("blur", 3).apply(img[:, :, 0])
