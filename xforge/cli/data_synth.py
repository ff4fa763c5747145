"""``xforge data synth`` (synthetic forgeries with exact masks) and ``xforge data convos`` (stage conversations).

Heavy imports happen inside the command functions so ``xforge --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def _pair(kind):
    """Parse ``LO,HI`` (or one value for both) into a tuple of ``kind``."""

    def parse(text: str):
        parts = [p.strip() for p in text.split(",")]
        if len(parts) == 1:
            parts = parts * 2
        if len(parts) != 2:
            raise argparse.ArgumentTypeError(f"expected LO,HI, got {text!r}")
        try:
            return tuple(kind(p) for p in parts)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected two numbers LO,HI, got {text!r}") from None

    return parse


def _kinds(text: str) -> tuple[str, ...]:
    return tuple(k.strip() for k in text.split(",") if k.strip())


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(k) for k in _kinds(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}") from None


def register(subparsers) -> None:
    _register_synth(subparsers)
    _register_convos(subparsers)


def _register_synth(subparsers) -> None:
    p = subparsers.add_parser(
        "synth",
        help="make forged images with exact masks from a folder of photos",
        description=(
            "Make splices, copy-moves, removals (inpainting) and multi-source composites from authentic photos, "
            "or whole photos re-rendered through an upsampling-artefact simulator (kind 'generated'), "
            "with optional post-processing (resize, blur, noise, JPEG) after the edit. Writes OUT/images, "
            "OUT/masks, OUT/manifest.jsonl (dataset 'synth') and OUT/report.json. The same --seed gives the "
            "same output. Unreadable source images are skipped and listed in the report."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--images", metavar="DIR", help="folder of authentic photos (searched recursively)")
    src.add_argument(
        "--manifest",
        metavar="FILE",
        help="manifest whose authentic records are the photos; a record's mask is used as an object outline",
    )
    p.add_argument(
        "--root", action="append", default=[], metavar="KEY=PATH", help="dataset root for --manifest"
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--n", type=int, required=True, help="number of samples to make")
    p.add_argument(
        "--kinds",
        type=_kinds,
        help="comma list from splice,copy-move,removal,multi,authentic,generated (default: the four edits); "
        "'authentic' writes post-processed originals as negatives; 'generated' re-renders a whole photo "
        "through an upsampling-artefact simulator (label synthetic, no mask)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=1, help="processes (output is identical for any number)")
    p.add_argument(
        "--config", metavar="YAML", help="generator settings (SynthConfig fields); flags override it"
    )
    p.add_argument(
        "--save-originals", action="store_true", help="also write each unedited host to OUT/originals"
    )
    g = p.add_argument_group(
        "generator settings",
        "SynthConfig fields (data_builders/synth/config.py); ranges are LO,HI -- write a negative low end with "
        "'=', e.g. --cm-rotation=-30,30",
    )
    g.add_argument("--max-side", type=int, help="shrink sources to this longer side (0 keeps; default 1024)")
    g.add_argument(
        "--area", type=_pair(float), metavar="LO,HI", help="edited area as a fraction of the image"
    )
    g.add_argument("--cm-rotation", type=_pair(float), metavar="LO,HI", help="copy-move rotation in degrees")
    g.add_argument("--cm-scale", type=_pair(float), metavar="LO,HI", help="copy-move scale factor")
    g.add_argument(
        "--copy-move-mask", choices=("target", "both"), help="mark the copy only, or copy and source"
    )
    g.add_argument("--splice-rotation", type=_pair(float), metavar="LO,HI", help="splice rotation in degrees")
    g.add_argument("--splice-scale", type=_pair(float), metavar="LO,HI", help="splice scale factor")
    g.add_argument(
        "--donor-jpeg-quality",
        type=_pair(int),
        metavar="LO,HI",
        help="'another camera': JPEG quality the donor is compressed at before pasting",
    )
    g.add_argument("--p-donor-jpeg", type=float, metavar="P", help="probability of that donor compression")
    g.add_argument(
        "--multi-sources", type=_pair(int), metavar="LO,HI", help="donors per multi-source composite"
    )
    g.add_argument("--inpaint-method", choices=("telea", "ns"))
    g.add_argument("--jpeg-quality", type=_pair(int), metavar="LO,HI", help="final JPEG quality")
    g.add_argument("--p-jpeg", type=float, metavar="P", help="probability of saving as JPEG (else PNG)")
    g.add_argument("--p-resize", type=float, metavar="P")
    g.add_argument("--resize-scale", type=_pair(float), metavar="LO,HI")
    g.add_argument("--p-blur", type=float, metavar="P")
    g.add_argument("--p-noise", type=float, metavar="P")
    g.add_argument(
        "--gen-upsampling",
        type=_kinds,
        metavar="LIST",
        help="generated: comma list from transposed,nearest,bilinear (drawn per sample)",
    )
    g.add_argument(
        "--gen-factors", type=_ints, metavar="LIST", help="generated: upsampling factors to draw from (2,4,8)"
    )
    g.add_argument(
        "--gen-kernel-jitter",
        type=_pair(float),
        metavar="LO,HI",
        help="generated: random transposed-convolution weights relative to the bilinear kernel's peak",
    )
    g.add_argument("--split", choices=("train", "valid", "test"))
    p.set_defaults(func=run_synth)


_FLAG_TO_FIELD = {
    "kinds": "kinds",
    "max_side": "max_side",
    "area": "area",
    "cm_rotation": "copy_move_rotation",
    "cm_scale": "copy_move_scale",
    "copy_move_mask": "copy_move_mask",
    "splice_rotation": "splice_rotation",
    "splice_scale": "splice_scale",
    "donor_jpeg_quality": "donor_jpeg_quality",
    "p_donor_jpeg": "p_donor_jpeg",
    "multi_sources": "multi_sources",
    "inpaint_method": "inpaint_method",
    "jpeg_quality": "jpeg_quality",
    "p_jpeg": "p_jpeg",
    "p_resize": "p_resize",
    "resize_scale": "resize_scale",
    "p_blur": "p_blur",
    "p_noise": "p_noise",
    "gen_upsampling": "gen_upsampling",
    "gen_factors": "gen_factors",
    "gen_kernel_jitter": "gen_kernel_jitter",
    "split": "split",
}


def run_synth(args: argparse.Namespace) -> int:
    from data_builders.synth import (
        SourceError,
        SynthConfig,
        SynthConfigError,
        generate,
        list_folder,
        list_manifest,
    )
    from xforge.data.manifest import ManifestError, parse_roots

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        cfg = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
        cfg = cfg.replace(**{f: getattr(args, flag) for flag, f in _FLAG_TO_FIELD.items()})
        if args.images:
            entries = list_folder(args.images)
        else:
            roots = parse_roots(args.root) or {"*": Path(args.manifest).resolve().parent}
            entries = list_manifest(args.manifest, roots)
        report = generate(
            entries,
            args.out,
            args.n,
            cfg,
            seed=args.seed,
            workers=args.workers,
            save_originals=args.save_originals,
        )
    except (SourceError, SynthConfigError, ManifestError, ValueError, OSError) as exc:
        print(f"xforge data synth: error: {exc}", file=sys.stderr)
        return 2
    kinds = ", ".join(f"{k} {v}" for k, v in report["by_kind"].items())
    print(f"wrote {report['written']}/{report['requested']} samples ({kinds}) to {args.out}")
    if report["skipped_sources"]:
        print(f"skipped {len(report['skipped_sources'])} unreadable source image(s):", file=sys.stderr)
        for s in report["skipped_sources"][:20]:
            print(f"  {s['path']}: {s['reason']}", file=sys.stderr)
        print(f"  (full list in {Path(args.out) / 'report.json'})", file=sys.stderr)
    if report["failed_samples"]:
        print(
            f"{len(report['failed_samples'])} sample(s) could not be placed (see report.json)",
            file=sys.stderr,
        )
    return 0


def _register_convos(subparsers) -> None:
    p = subparsers.add_parser(
        "convos",
        help="build stage 1/2/3 training conversations from a manifest, or import an explanation corpus",
        description=(
            "Build conversation records (JSONL) for a training stage from a manifest: stage 1 segmentation "
            "prompts and short grounded captions, stage 2 detection + localization Q/A, stage 3 multi-turn "
            "explanations with follow-ups. Or, with --import, convert FakeShield's MMTD-Set or SIDA's "
            "descriptions (joined to --manifest for labels and masks) into stage-3 records."
        ),
    )
    p.add_argument("--stage", type=int, choices=(1, 2, 3), help="stage to build")
    p.add_argument(
        "--import", dest="corpus_kind", choices=("fakeshield", "sida"), help="import a corpus instead"
    )
    p.add_argument("--corpus", metavar="FILE", help="the corpus JSON/JSONL file for --import")
    p.add_argument("--manifest", metavar="FILE", help="manifest of the samples (required with --stage)")
    p.add_argument(
        "--root",
        action="append",
        default=[],
        metavar="KEY=PATH",
        help="dataset root for the manifest's masks (default: the manifest's folder)",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="conversations JSONL to write")
    p.add_argument("--seed", type=int, default=0, help="phrasing seed")
    p.add_argument(
        "--per-sample", type=int, default=1, metavar="K", help="conversations per sample (default 1)"
    )
    p.add_argument(
        "--replay", type=float, default=0.0, metavar="F", help="stage 3: share of stage-2 style replay"
    )
    p.add_argument("--dataset", help="dataset name for imported entries without a manifest record")
    p.set_defaults(func=run_convos)


def run_convos(args: argparse.Namespace) -> int:
    from data_builders.stages import build_file
    from data_builders.stages.importers import IMPORTERS, CorpusError
    from xforge.data.conversations import write_conversations
    from xforge.data.manifest import ManifestError, parse_roots, read_manifest

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if (args.stage is None) == (args.corpus_kind is None):
        print("xforge data convos: error: give exactly one of --stage or --import", file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        if args.stage is not None:
            if not args.manifest:
                raise ValueError("--stage needs --manifest")
            roots = parse_roots(args.root) or {"*": Path(args.manifest).resolve().parent}
            report = build_file(
                args.manifest,
                out,
                args.stage,
                roots,
                seed=args.seed,
                per_sample=args.per_sample,
                replay=args.replay,
            )
            skipped = report["skipped"]
            summary = f"wrote {report['records']} stage-{args.stage} conversations ({report['with_seg']} with <SEG>)"
        else:
            if not args.corpus:
                raise ValueError("--import needs --corpus FILE")
            records = read_manifest(args.manifest) if args.manifest else None
            kwargs = {"dataset": args.dataset} if args.dataset else {}
            rows, skipped = IMPORTERS[args.corpus_kind](args.corpus, records=records, **kwargs)
            if not rows:
                raise ValueError(f"{args.corpus}: no entry could be imported ({len(skipped)} skipped)")
            write_conversations(out, rows)
            report = {"imported": len(rows), "skipped": skipped}
            summary = f"imported {len(rows)} conversations from {args.corpus_kind}"
    except (ManifestError, CorpusError, ValueError, OSError) as exc:
        print(f"xforge data convos: error: {exc}", file=sys.stderr)
        return 2
    report_path = out.with_name(out.name + ".report.json")
    report_path.write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"{summary} to {out}")
    if skipped:
        print(f"skipped {len(skipped)} sample(s); reasons in {report_path}", file=sys.stderr)
    return 0
