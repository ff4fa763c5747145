"""Evaluate the classical forensic engine on synthetic forgery sets and (optionally) fit its calibration.

Sets (deterministic per seed). Hosts and donors are photo-like scenes made here (multi-scale smoothed
noise with a 1/f-like spectrum, illumination gradients, textured shapes, signal-dependent camera noise);
the edits and post-processing are the project's generator, ``data_builders.synth``:

- ``copymove``: a region copied elsewhere by a plain (sub-pixel) shift, saved as JPEG quality 90-98;
- ``copymove_rs``: copied with rotation 10-45 degrees (either sign) and scale 0.8-1.2, JPEG 90-98;
- ``splice``: the shipped ``splice_camera_eval.yaml`` settings (donor from another scene and "camera":
  JPEG 50-75 and extra noise, rotated/scaled, colour-matched, feathered; saved as PNG);
- ``authentic``: untouched scenes, saved as JPEG 90-98 (70%) or PNG;
- ``real_splice`` / ``real_authentic``: realistic splices rebuilt offline from real photos that ship in
  scikit-image and scikit-learn, and the same photos unedited through the same save chain
  (``data_builders.synth.real_splices``: host saved as JPEG 60-90, object from another photo resized, rotated,
  colour-matched and feathered, then re-saved as JPEG 70-95, or as PNG, or resized and re-saved).
  Their AUC is against ``real_authentic``; their F1 is also given per save variant, and each cue's own AUC on
  them is printed on the line before the figures (which cue separates, which is noise).

The synthetic ``splice`` set is saved as PNG while most of ``authentic`` is JPEG, so ``splice_auc`` rewards
any cue that tells the formats apart; ``splice_auc_vs_png`` is the AUC against the PNG authentic images only.

Metrics as the evaluation defines them (docs/ARCHITECTURE.md, "Evaluation"): pixel F1 of the engine's mask
(per tampered image, averaged; masks mark the pasted copy only) and image AUC (scikit-learn's
``roc_auc_score``) of each tampered set against the
authentic set of its kind; TPR / FPR are the shares called tampered at
the default threshold 0.5. The last line printed is ``name=value`` pairs.

Real photos: the synthetic scenes are no photographs, so the authentic false-positive rate is also reported
on the few real, unedited photos available offline (``real_fpr``, ``real_n``): the shipped example host
(``xforge/assets/examples/astronaut_original.jpg``) and the sample photos that ship inside the installed
scikit-learn (``china.jpg``, ``flower.jpg``) and matplotlib (``grace_hopper.jpg``) packages.

Generated images (``generated_figures``, after the fusion's figures; never part of the calibration fit): the
authentic scene and the realistic authentic photo of each seed re-rendered by the project's upsampling-artefact
simulator (``data_builders.synth.generated`` with ``configs/generated_eval.yaml``: transposed convolution,
nearest or bilinear upsampling by 2 or 4, half saved as JPEG 80-98), as many as the authentic set of their kind.
Reported: ``generated_auc`` / ``real_generated_auc``, the AUC of the spectral cue
(``xforge.forensics.spectral``) against ``authentic`` / ``real_authentic``; ``*_tpr``, the share called
synthetic (also per upsampling kind and per save, over both sets); and the authentic false-positive rates
before the cue (``*_fpr_before``: the fusion alone, score >= 0.5) and after it (``*_fpr_after``: any verdict
but authentic), for ``authentic``, ``real_authentic`` and the real photos (``real_fpr_*``).

``--fit-calibration`` fits the fusion's logistic coefficients on all sets of ``--seed`` (class-balanced, the
realistic splices and photos weighing as much as all synthetic sets together,
L2-regularised on standardised features, non-negative weights each at most ``MAX_STD_WEIGHT`` logit per
standard deviation, solved with scipy), writes them to ``xforge/forensics/calibration.json``, and then
reports figures on fresh sets (``--seed + 1``). The bias is then lowered, if needed, so that at most
``MAX_FIT_FPR`` (2%) of each of the fitting seed's authentic sets reaches 0.5, and the per-cue logit caps are set
(``fusion.cue_caps``: weak and hardly exercised cues can never decide alone).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from scipy.optimize import minimize
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

import data_builders.synth
from data_builders.synth import Source, SynthConfig, copy_move, postprocess, splice
from data_builders.synth.generated import simulate
from data_builders.synth.real_splices import make_real_sample
from xforge.forensics import ForensicEngine
from xforge.forensics.fusion import (
    CUE_OF,
    CUES,
    FEATURES,
    calibration_path,
    cue_caps,
    cue_contributions,
    load_calibration,
)

SETS = ("copymove", "copymove_rs", "splice", "authentic", "real_splice", "real_authentic")
TAMPERED_SETS = ("copymove", "copymove_rs", "splice", "real_splice")
AUTHENTIC_OF = {"real_splice": "real_authentic"}  # each tampered set's AUC is against its own kind of photos
# The operating point is set on the fitting seed with a margin under the 5% budget. The photo pool is small,
# so false positives come in clumps (crops of one textured photo): fitted at 3% on 60 photos, 150 fresh
# seed-1 photos gave 6% (the first 60 of them 3.3%) and seed 2 10%. Fitted at 2% on 150 photos (allowing 3):
# 4% and 6.7%, copy-move unchanged; at 1.5% (allowing 2): 1.3% and 1.7%, but seed-1 copy-move TPR fell from
# 0.83 to 0.77 (all figures offline from the rows' features). Fit with ``--n-real 150``.
MAX_FIT_FPR = 0.02
MAX_STD_WEIGHT = 4.0  # bound on a standardised weight: no feature's spread alone swings the logit unboundedly
L2 = 1e-3
SYNTH_CONFIGS = Path(data_builders.synth.__file__).parent / "configs"


def _texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth multi-scale noise in 0..1 (octaves weighted like a 1/f spectrum)."""
    out = np.zeros((h, w), np.float32)
    # Fine octaves keep real weight: photographs have detail (foliage, fabric, gravel) at every scale.
    weights = rng.uniform(0.4, 1.0) ** np.arange(6)
    for weight, sigma in zip(weights, (48, 16, 6, 2.5, 1.2, 0.7)):
        n = cv2.GaussianBlur(rng.standard_normal((h, w)).astype(np.float32), (0, 0), sigma)
        n /= n.std() + 1e-6
        out += n * weight
    out -= out.min()
    return out / (out.max() + 1e-6)


def make_scene(rng: np.random.Generator, h: int, w: int, noise_sigma: float) -> np.ndarray:
    """A photo-like RGB float image in 0..255 (before camera noise and compression)."""
    base = _texture(rng, h, w)
    colour = rng.uniform(0.3, 1.0, 3)
    img = base[..., None] * colour * 200 + 20
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    img += ((np.cos(ang) * xs + np.sin(ang) * ys) / max(h, w) * rng.uniform(-60, 60))[..., None]
    for _ in range(rng.integers(3, 8)):
        shape = np.zeros((h, w), np.uint8)
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        if rng.random() < 0.5:
            axes = (int(rng.integers(10, w // 4)), int(rng.integers(10, h // 4)))
            cv2.ellipse(shape, (int(cx), int(cy)), axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
        else:
            pts = np.stack([cx + rng.integers(-w // 5, w // 5, 5), cy + rng.integers(-h // 5, h // 5, 5)], 1)
            cv2.fillPoly(shape, [pts.astype(np.int32)], 1)
        shape = cv2.GaussianBlur(shape.astype(np.float32), (0, 0), 1.0)[..., None]
        fill = _texture(rng, h, w)[..., None] * rng.uniform(0.2, 1.0, 3) * 180 + rng.uniform(0, 60, 3)
        img = img * (1 - shape) + fill * shape
    return img


def camera(img: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Add sensor-like noise (partly signal dependent) and quantise to uint8."""
    std = sigma * np.sqrt(0.5 + np.clip(img, 0, 255) / 255)
    return np.clip(img + rng.standard_normal(img.shape) * std, 0, 255).round().astype(np.uint8)


COPY_MOVE = SynthConfig(
    kinds=("copy-move",),
    area=(0.02, 0.08),
    copy_move_rotation=(0.0, 0.0),
    copy_move_scale=(1.0, 1.0),
    copy_move_mask="target",
    p_resize=0.0,
    p_blur=0.0,
    p_noise=0.0,
    p_jpeg=1.0,
    jpeg_quality=(90, 98),
)
SPLICE = SynthConfig.from_yaml(SYNTH_CONFIGS / "splice_camera_eval.yaml").replace(
    kinds=("splice",), area=(0.02, 0.08)
)
AUTHENTIC = COPY_MOVE.replace(kinds=("authentic",), p_jpeg=0.7)


def make_sample(kind: str, seed: int, h: int = 384, w: int = 512):
    """(rgb uint8 image, mask uint8 0/1 of the changed pixels or None, encoded file bytes, file suffix).

    Hosts and donors are this script's photo-like scenes; the edits and post-processing are the project's
    synthetic-forgery generator (``data_builders.synth``), with the settings its targets are stated for.
    """
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(1.0, 3.0)
    host = Source(f"host{seed}", camera(make_scene(rng, h, w, sigma), rng, sigma))
    if kind == "authentic":
        forgery, cfg = None, AUTHENTIC
    elif kind == "splice":
        donor_sigma = sigma * rng.choice([rng.uniform(0.15, 0.45), rng.uniform(2.2, 4.0)])
        donor = Source(f"donor{seed}", camera(make_scene(rng, h, w, donor_sigma), rng, donor_sigma))
        cfg = SPLICE
        forgery = splice(host, donor, rng, cfg)
    else:
        cfg = COPY_MOVE
        if kind == "copymove_rs":
            angle = float(rng.uniform(10, 45) * rng.choice([-1, 1]))
            cfg = cfg.replace(copy_move_rotation=(angle, angle), copy_move_scale=(0.8, 1.2))
        forgery = copy_move(host, rng, cfg)
    out = postprocess(
        host.image if forgery is None else forgery.image, None if forgery is None else forgery.mask, rng, cfg
    )
    if out.jpeg_bytes is not None:
        return out.image, out.mask, out.jpeg_bytes, ".jpg"
    ok, buf = cv2.imencode(".png", out.image[..., ::-1])
    return out.image, out.mask, buf.tobytes(), ".png"


GENERATED = SynthConfig.from_yaml(SYNTH_CONFIGS / "generated_eval.yaml").replace(kinds=("generated",))


def make_generated(kind: str, seed: int) -> tuple[bytes, str, dict]:
    """A simulated generated image (``data_builders.synth.generated``, ``generated_eval.yaml`` settings) made
    from this script's authentic scene (``kind`` "generated") or realistic authentic photo ("real_generated")
    of the same seed: (file bytes, suffix, simulator settings plus ``saved``)."""
    if kind == "real_generated":
        image = make_real_sample("authentic", seed).image
    else:
        image = make_sample("authentic", seed)[0]
    rng = np.random.default_rng([seed, 13])
    image, meta = simulate(image, rng, GENERATED)
    out = postprocess(image, None, rng, GENERATED)
    if out.jpeg_bytes is not None:
        return out.jpeg_bytes, ".jpg", {**meta, "saved": "jpeg"}
    ok, buf = cv2.imencode(".png", out.image[..., ::-1])
    return buf.tobytes(), ".png", {**meta, "saved": "png"}


def generated_figures(
    engine: ForensicEngine, rows: list[dict], real: list, sizes: dict[str, int], seed: int, workdir: Path
) -> dict[str, float]:
    """The spectral cue (``xforge.forensics.spectral``) on simulated generated images against the authentic
    sets, and the authentic false-positive rate before the cue (the fusion alone: score >= threshold) and
    after it (any verdict but authentic). AUCs use the cue value; TPR is the share given the synthetic verdict.
    """
    figures: dict[str, float] = {}
    gen_rows = []
    for kind, neg in (("generated", "authentic"), ("real_generated", "real_authentic")):
        for i in tqdm(range(sizes[neg]), desc=kind, leave=False):
            sample_seed = seed * 1_000_003 + i * 7919 + 101 + (kind == "real_generated")
            data, suffix, meta = make_generated(kind, sample_seed)
            path = workdir / f"{kind}_{i}{suffix}"
            path.write_bytes(data)
            res = engine.analyze(path)
            gen_rows.append(
                {"kind": kind, "cue": res.evidence["spectral"]["cue"], "verdict": res.verdict, **meta}
            )
        pos = [r["cue"] for r in gen_rows if r["kind"] == kind]
        negs = [r["spectral_cue"] for r in rows if r["kind"] == neg]
        figures[f"{kind}_auc"] = float(roc_auc_score([1] * len(pos) + [0] * len(negs), pos + negs))
        figures[f"{kind}_tpr"] = float(
            np.mean([r["verdict"] == "synthetic" for r in gen_rows if r["kind"] == kind])
        )
    for key, value in (
        ("upsampling", "transposed"),
        ("upsampling", "nearest"),
        ("upsampling", "bilinear"),
        ("saved", "png"),
        ("saved", "jpeg"),
    ):
        sub = [r["verdict"] == "synthetic" for r in gen_rows if r[key] == value]
        if sub:
            figures[f"generated_{value}_tpr"] = float(np.mean(sub))
    for neg in ("authentic", "real_authentic"):
        sub = [r for r in rows if r["kind"] == neg]
        figures[f"{neg}_fpr_before"] = float(np.mean([r["score"] >= engine.threshold for r in sub]))
        figures[f"{neg}_fpr_after"] = float(np.mean([r["verdict"] != "authentic" for r in sub]))
    if real:
        figures["real_fpr_before"] = float(np.mean([r.score >= engine.threshold for r in real]))
        figures["real_fpr_after"] = float(np.mean([r.verdict != "authentic" for r in real]))
    return figures


def f1(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pixel F1 with tampered pixels positive (0 when the prediction is empty and the truth is not)."""
    p, g = pred > 0, gt > 0
    tp = float((p & g).sum())
    denom = float(p.sum() + g.sum())
    return 2 * tp / denom if denom else 1.0


def run_set(engine: ForensicEngine, kind: str, n: int, seed: int, workdir: Path):
    rows = []
    for i in tqdm(range(n), desc=kind, leave=False):
        sample_seed = seed * 1_000_003 + i * 7919 + SETS.index(kind)
        variant = None
        if kind.startswith("real_"):
            real = make_real_sample(kind.removeprefix("real_"), sample_seed)
            img, gt, data, suffix, variant = real.image, real.mask, real.data, real.suffix, real.variant
        else:
            img, gt, data, suffix = make_sample(kind, sample_seed)
        # The engine reads the written file, as a user's file would be read, so JPEG cues see real tables.
        path = workdir / f"{kind}_{i}{suffix}"
        path.write_bytes(data)
        res = engine.analyze(path)
        rows.append(
            {
                "kind": kind,
                "variant": variant,
                "suffix": suffix,
                "score": res.score,
                "verdict": res.verdict,
                "f1": f1(res.mask, gt) if gt is not None else None,
                "features": res.evidence["features"],
                "spectral_cue": res.evidence.get("spectral", {}).get("cue"),
            }
        )
    return rows


def real_photos() -> list[Path]:
    """Real, unedited photos available offline (see the module docstring); missing ones are skipped."""
    import matplotlib
    import sklearn.datasets

    repo = Path(__file__).resolve().parent.parent
    candidates = [
        repo / "xforge" / "assets" / "examples" / "astronaut_original.jpg",
        Path(sklearn.datasets.__file__).parent / "images" / "china.jpg",
        Path(sklearn.datasets.__file__).parent / "images" / "flower.jpg",
        Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg",
    ]
    return [p for p in candidates if p.is_file()]


def set_weights(kinds: list[str]) -> np.ndarray:
    """Per-image weights: each class weighs the same in total (so 0.5 is the decision at equal priors), and
    within a class the realistic set weighs as much as all synthetic sets together, each synthetic set alike
    (class-balanced on realistic splices, whatever the set sizes)."""
    kinds_a = np.array(kinds)
    w = np.zeros(len(kinds_a))
    for kind in set(kinds):
        m = kinds_a == kind
        tampered = kind in TAMPERED_SETS
        synthetic = [k for k in set(kinds) if (k in TAMPERED_SETS) == tampered and not k.startswith("real_")]
        share = 0.5 if kind.startswith("real_") else 0.5 / max(len(synthetic), 1)
        w[m] = 0.5 * share / m.sum()
    return w


def fit_logistic(
    x: np.ndarray, y: np.ndarray, sample_w: np.ndarray | None = None, l2: float = L2
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray]:
    """Weights, bias and feature standardisation (mean, scale) of an L2-regularised logistic regression.

    ``sample_w`` defaults to equal total weight per class; weights are kept >= 0 so that stronger evidence
    never lowers the score.
    """
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    if sample_w is None:
        sample_w = np.where(y > 0, 0.5 / max(y.sum(), 1), 0.5 / max((1 - y).sum(), 1))

    def loss(theta):
        w, b = theta[:-1], theta[-1]
        t = z @ w + b
        return np.sum(sample_w * (np.logaddexp(0, t) - y * t)) + l2 * np.sum(w * w)

    bounds = [(0, MAX_STD_WEIGHT)] * z.shape[1] + [(None, None)]
    theta = minimize(loss, np.zeros(z.shape[1] + 1), method="L-BFGS-B", bounds=bounds).x
    return theta[:-1], float(theta[-1]), mu, sd


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=40, help="images per set")
    ap.add_argument("--n-real", type=int, help="images per realistic set (default: --n)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fit-calibration", action="store_true", help="refit and write calibration.json")
    ap.add_argument("--json", type=Path, help="also write per-image rows here")
    ap.add_argument(
        "--rows", type=Path, help="with --fit-calibration: fit on rows an earlier --json run wrote for --seed"
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    sizes = {k: (args.n_real or args.n) if k.startswith("real_") else args.n for k in SETS}
    engine = ForensicEngine()
    if args.rows and args.fit_calibration:
        rows = json.loads(args.rows.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rows = [r for kind in SETS for r in run_set(engine, kind, sizes[kind], args.seed, Path(tmp))]
    if args.fit_calibration:
        x = np.array([[r["features"][f] for f in FEATURES] for r in rows])
        y = np.array([r["kind"] in TAMPERED_SETS for r in rows], dtype=float)
        w, b, mu, sd = fit_logistic(x, y, set_weights([r["kind"] for r in rows]))
        # Fold the standardisation into the coefficients so the engine applies one dot product.
        coef = {f: float(wi / si) for f, wi, si in zip(FEATURES, w, sd)}
        bias = b - float(np.sum(w * mu / sd))
        # A cue's support: the share of fitting images on which any of its features is nonzero.
        support = {
            c: float(np.mean((x[:, [i for i, f in enumerate(FEATURES) if CUE_OF.get(f, f) == c]] > 0).any(1)))
            for c in CUES
        }
        # Operating point: lower the bias if needed so that at most MAX_FIT_FPR of *each* authentic set of
        # the fitting seed scores >= 0.5 (synthetic scenes never fire the JPEG cues, so a pooled budget would
        # all go to real photos). The caps depend on the bias, so the two are settled together (the caps only
        # grow as the bias falls).
        for _ in range(20):
            cal = {"features": coef, "bias": bias, "max_contribution": cue_caps(bias, support)}
            limit = -np.inf
            for neg in ("authentic", "real_authentic"):
                logits = np.sort(
                    [
                        bias + sum(cue_contributions(r["features"], cal).values())
                        for r in rows
                        if r["kind"] == neg
                    ]
                )
                allowed = int(np.floor(MAX_FIT_FPR * len(logits)))
                if len(logits) > allowed:
                    limit = max(limit, float(logits[-(allowed + 1)]))
            if limit < 0:
                break
            bias -= limit + 1e-3
        caps = cue_caps(bias, support)
        calibration_path().write_text(
            json.dumps(
                {
                    "features": coef,
                    "bias": bias,
                    "max_contribution": caps,
                    "fitted_on": f"eval_forensics.py --n {args.n} --n-real {sizes['real_splice']} --seed {args.seed}",
                },
                indent=2,
            )
            + "\n"
        )
        load_calibration.cache_clear()  # the engine must score with what was just written
        engine = ForensicEngine()
        with tempfile.TemporaryDirectory() as tmp:
            rows = [r for kind in SETS for r in run_set(engine, kind, sizes[kind], args.seed + 1, Path(tmp))]
    real = [engine.analyze(p) for p in tqdm(real_photos(), desc="real photos", leave=False)]
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    figures = {}
    for kind in TAMPERED_SETS:
        neg = AUTHENTIC_OF.get(kind, "authentic")
        auth = [r["score"] for r in rows if r["kind"] == neg]
        sub = [r for r in rows if r["kind"] == kind]
        scores = [r["score"] for r in sub]
        figures[f"{kind}_f1"] = float(np.mean([r["f1"] for r in sub]))
        figures[f"{kind}_auc"] = float(roc_auc_score([1] * len(scores) + [0] * len(auth), scores + auth))
        figures[f"{kind}_tpr"] = float(np.mean([r["verdict"] == "tampered" for r in sub]))
    for kind in ("authentic", "real_authentic"):
        figures[f"{kind}_fpr"] = float(
            np.mean([r["verdict"] == "tampered" for r in rows if r["kind"] == kind])
        )
    # The synthetic other-camera splices are all PNG, the synthetic authentic set mostly JPEG: against the
    # PNG authentic images only, a cue cannot score by telling the formats apart.
    png_auth = [r["score"] for r in rows if r["kind"] == "authentic" and r.get("suffix") == ".png"]
    spl = [r["score"] for r in rows if r["kind"] == "splice"]
    if png_auth and spl:
        figures["splice_auc_vs_png"] = float(
            roc_auc_score([1] * len(spl) + [0] * len(png_auth), spl + png_auth)
        )
    # The realistic splices by how they were saved (see data_builders.synth.real_splices).
    for variant in ("jpeg", "png", "resized"):
        sub = [r for r in rows if r["kind"] == "real_splice" and r["variant"] == variant]
        if sub:
            figures[f"real_splice_{variant}_f1"] = float(np.mean([r["f1"] for r in sub]))
    figures["real_fpr"] = float(np.mean([r.verdict == "tampered" for r in real])) if real else float("nan")
    figures["real_n"] = len(real)
    with tempfile.TemporaryDirectory() as tmp:
        figures.update(generated_figures(engine, rows, real, sizes, args.seed, Path(tmp)))
    figures["n_per_set"] = args.n
    figures["n_real"] = sizes["real_splice"]
    print(
        "per-cue AUC, realistic splices vs their photos: " + _cue_aucs(rows, "real_splice", "real_authentic")
    )
    print(" ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()))
    return 0


def _cue_aucs(rows: list[dict], positive: str, negative: str) -> str:
    """Each feature's own image AUC on one tampered set against its authentic set: which cue separates."""
    sub = [r for r in rows if r["kind"] in (positive, negative)]
    y = [r["kind"] == positive for r in sub]
    if not any(y) or all(y):
        return "n/a"
    return " ".join(f"{f}={roc_auc_score(y, [r['features'][f] for r in sub]):.3f}" for f in FEATURES)


if __name__ == "__main__":
    sys.exit(main())
