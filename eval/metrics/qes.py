"""QES, the quality-evaluation score of a soft mask (MIML: Qu et al., "Towards Modern Image Manipulation
Localization: A Large-Scale Dataset and Novel Methods", CVPR 2024).

MIML rates an automatically made forgery mask without ground truth by how decided it is: among the pixels the
soft mask calls forged at all (``p > 1/16``), the share it is confident about (``p > 15/16``). A mask made of
crisp regions scores near 1; a map of faint, hesitant blobs scores near 0. MIML keeps auto-annotated masks
whose QES passes a threshold; xforge also reports it for any predicted map (``xforge eval``), where it can rank
predictions that have no ground truth.
"""

from __future__ import annotations

import numpy as np

LOW = 1.0 / 16.0
HIGH = 15.0 / 16.0
EPS = 1e-8


def qes(prob: np.ndarray) -> float:
    """``count(p > 15/16) / (count(p > 1/16) + 1e-8)`` over a soft mask ``p`` in ``[0, 1]``.

    ``prob`` is a float map in 0..1 or an 8-bit map (0..255, probability = value / 255, the predictions
    folder's PNGs). An empty map (nothing above 1/16) scores 0.
    """
    p = np.asarray(prob)
    if p.dtype == np.uint8:
        p = p.astype(np.float32) / 255.0
    confident = np.count_nonzero(p > HIGH)
    marked = np.count_nonzero(p > LOW)
    return float(confident / (marked + EPS))
