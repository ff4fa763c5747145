"""The shipped README example forgeries: present, small, masks fit their images and mark an edit."""

import json
from pathlib import Path

from xforge.data.images import read_image
from xforge.data.masks import decode_mask

EXAMPLES = Path(__file__).resolve().parents[1] / "xforge" / "assets" / "examples"


def test_examples_are_shipped_with_fitting_masks():
    entries = json.loads((EXAMPLES / "examples.json").read_text())
    assert {tuple(e["manipulation"]) for e in entries} == {("copy-move",), ("splice",)}
    original = read_image(EXAMPLES / "astronaut_original.jpg")
    for e in entries:
        image = read_image(EXAMPLES / e["image"])
        assert image.shape == original.shape
        mask = decode_mask(
            EXAMPLES / e["mask"], e["mask_format"], expected_size=(image.shape[1], image.shape[0])
        )
        assert 0.005 < mask.mean() < 0.2
        # The edit is where the mask says: inside, pixels differ from the original far more than outside.
        diff = abs(image.astype(int) - original.astype(int)).mean(axis=2)
        assert diff[mask > 0].mean() > 5 * diff[mask == 0].mean()
    for f in EXAMPLES.iterdir():
        assert f.stat().st_size < 300_000, f
