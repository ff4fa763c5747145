"""Masks for (edited, original) pairs by constrained localization, rated by QES (MIML, Qu et al. CVPR 2024).

``register`` aligns the original onto the edit, ``diff`` makes the soft difference map, ``refine`` the mask,
``ciml`` runs the three on one pair, ``pairs`` finds pairs on disk, ``build`` writes a dataset folder with a
manifest, and ``synthetic`` makes measurable pairs from the forgery generator.
"""

from data_builders.annotate.ciml import AlignError, Annotation, annotate_arrays

__all__ = ["AlignError", "Annotation", "annotate_arrays"]
