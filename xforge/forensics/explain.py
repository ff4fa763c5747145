"""Evidence-grounded explanations for the classical engine, in xforge's location vocabulary.

Every sentence is built from a measured finding (a region, a ratio, a count), and every "where" comes from
``xforge.location.describe_mask``, so the evaluator can read the places back and check them against the
mask. The text always says it comes from the classical engine, and says so plainly when nothing was found.
"""

from __future__ import annotations

import numpy as np

from xforge.location import describe_mask

ENGINE_NOTE = "Classical forensic engine (weight-free signal analysis, not the trained xforge model)."


def _where(mask: np.ndarray) -> str:
    d = describe_mask(mask)
    return f"the {d.phrase}"


def _sized_where(mask: np.ndarray) -> str:
    d = describe_mask(mask)
    return f"a {d.size}, {d.shape} region in the {d.phrase}"


def copy_move_sentence(f) -> str:
    if f.is_plain_shift:
        how = "a shifted copy"
    else:
        how = f"a copy rotated by {abs(f.rotation_deg):.0f}° and scaled ×{f.scale:.2f}"
    text = (
        f"Copy-move: {_sized_where(f.target_mask)} is {how} of the region in {_where(f.source_mask)} "
        f"({f.n_matches} SIFT keypoint matches verified by RANSAC, local correlation {f.correlation:.2f})."
    )
    if f.direction_confidence < 0.5:
        text += " Which of the two regions is the original is uncertain."
    return text


def noise_sentence(n) -> str:
    word = "weaker" if n.ratio < 1 else "stronger"
    factor = 1 / n.ratio if n.ratio < 1 else n.ratio
    return (
        f"Noise: noise in {_where(n.region)} is {factor:.1f}× {word} than in the rest of the image "
        f"(typical level {n.global_sigma:.1f} grey levels), as if it came from another camera or was processed apart."
    )


def double_jpeg_sentence(d) -> str:
    source = "read from the file" if d.from_file else "estimated from the pixels"
    rest = (
        "the rest of the image was JPEG-compressed twice"
        if d.double
        else "the rest of the image carries faint traces of an earlier JPEG save"
    )
    return (
        f"Double JPEG: {rest}, but {_where(d.region)} ({100 * d.share:.0f}% of the image) shows only one "
        f"compression in its DCT coefficients ({source}), a sign of content pasted in before the last save."
    )


def cfa_sentence(c) -> str:
    return (
        f"Camera trace: the colour-filter-array (demosaicing) pattern found in the rest of the image is missing "
        f"in {_where(c.region)}, a sign the region was resampled or came from elsewhere."
    )


def jpeg_sentences(j, strong: set[str]) -> list[str]:
    out = []
    if j.is_jpeg and j.quality is not None:
        out.append(
            f"JPEG: the file was last saved at about quality {j.quality:.0f} (from its quantisation tables)."
        )
    if "jpeg_grid" in strong and j.misaligned is not None:
        out.append(
            f"JPEG: the 8×8 block grid in {_where(j.misaligned)} is out of phase with the rest of the image "
            f"({100 * j.misaligned_frac:.0f}% of the image), a sign of content pasted from another JPEG."
        )
    if "ghost" in strong and j.ghost_region is not None:
        out.append(
            f"JPEG ghost: {_where(j.ghost_region)} changes least when resaved at quality {j.ghost_quality}, "
            "so it was probably compressed at that quality before the rest of the image was saved."
        )
    return out


def explain(
    *,
    verdict: str,
    score: float,
    copy_move: list,
    noise,
    jpeg,
    ela,
    strong: set[str],
    n_keypoints_note: str,
    downscale_note: str | None,
    too_small: bool,
    question: str | None = None,
    djpeg=None,
    cfa=None,
    weighted: set[str] | None = None,
) -> str:
    """One paragraph: the engine note, the verdict with its score, then the findings that support it.

    Only cues in ``strong`` (their share of the decision is large) are given as findings. Cues outside
    ``weighted`` (fitted weight 0) are mentioned, if at all, as "reported only".
    """
    weighted = (
        set(weighted)
        if weighted is not None
        else {"copymove", "noise", "djpeg", "ghost", "jpeg_grid", "cfa", "ela"}
    )
    parts = [ENGINE_NOTE]
    if too_small:
        parts.append(
            f"The image is too small for the forensic cues to be measured, so no sign of editing can be "
            f"established (score {score:.2f})."
        )
        return " ".join(parts)
    if verdict == "tampered":
        parts.append(f"Verdict: this image looks edited (score {score:.2f}).")
        findings = [copy_move_sentence(f) for f in copy_move if "copymove" in strong]
        if "noise" in strong and noise.region is not None:
            findings.append(noise_sentence(noise))
        if "djpeg" in strong and djpeg is not None and djpeg.region is not None:
            findings.append(double_jpeg_sentence(djpeg))
        findings += jpeg_sentences(jpeg, strong)
        if "cfa" in strong and cfa is not None and cfa.region is not None:
            findings.append(cfa_sentence(cfa))
        if "ela" in strong:
            findings.append(
                f"Error-level analysis (a weak cue) peaks at {ela.peak:.1f}× the image's typical level."
            )
        if not findings:
            cues = ", ".join(sorted(strong)) or "several weak cues together"
            findings.append(f"No single region stands out; the score comes from: {cues}.")
        findings = _question_first(findings, question)
        parts += findings
    else:
        parts.append(f"Verdict: I found no sign of editing (score {score:.2f}).")
        if copy_move:
            best = max(copy_move, key=lambda f: f.n_matches)
            checked = [
                f"one weak copy-move candidate ({best.n_matches} matches, {_where(best.target_mask)}), "
                "too weak to count"
            ]
        else:
            checked = [f"no copied regions ({n_keypoints_note})"]
        if djpeg is not None and djpeg.double and "djpeg" in weighted:
            checked.append("double JPEG compression throughout, with no region compressed only once")
        if jpeg.is_jpeg:
            q = f" at about quality {jpeg.quality:.0f}" if jpeg.quality is not None else ""
            checked.append(f"a JPEG file{q} with no out-of-phase block grid or JPEG ghost")
        else:
            checked.append("no JPEG history in the file to examine")
        if noise.global_sigma > 0:
            level = f"a noise level of about {noise.global_sigma:.1f} grey levels"
            checked.append(
                f"{level} with no clearly different region"
                if "noise" in weighted
                else f"{level} (reported only: the noise cue carries no weight in the verdict)"
            )
        parts.append("Checked: " + "; ".join(checked) + ".")
        weak = [c for c in strong if c != "ela"]
        if weak:
            parts.append(f"Weak signals below the decision threshold: {', '.join(sorted(weak))}.")
    if downscale_note:
        parts.append(downscale_note)
    return " ".join(parts)


def _question_first(findings: list[str], question: str | None) -> list[str]:
    """Put the finding the question asks about first (e.g. "is the noise consistent?")."""
    if not question:
        return findings
    q = question.lower()
    keys = {
        "copy": "Copy-move",
        "clone": "Copy-move",
        "duplicat": "Copy-move",
        "noise": "Noise",
        "double": "Double JPEG",
        "jpeg": "JPEG",
        "compress": "Double JPEG",
        "camera": "Camera trace",
        "demosaic": "Camera trace",
    }
    for key, prefix in keys.items():
        if key in q:
            return sorted(findings, key=lambda s: not s.startswith(prefix))
    return findings
