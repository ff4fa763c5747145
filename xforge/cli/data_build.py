"""``xforge data build | split | stats``: manifests from datasets as their authors ship them."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

MAX_SKIPS_SHOWN = 20
VERIFY_HELP = "decode every image and mask in full (slow) instead of reading headers only"
RESIZE_HELP = (
    "resample masks whose size differs from their image (nearest neighbour) instead of skipping them; "
    "marked meta.mask_resize in the manifest. Prefer the published corrected masks (see the skip report)"
)

BUILD_HELP = """\
Scan one dataset, laid out as its authors ship it, into a JSONL manifest (one sample per line: image and
mask paths relative to the root, label, manipulation, mask format, size). Files that cannot be used are
skipped and reported (printed, and all of them written to OUT.skipped.jsonl), never dropped silently.
Each dataset's expected layout is documented in data_builders/adapters/<DATASET>.py.

example:
  xforge data build casia2 --root /data/CASIA --out manifests/casia2.jsonl
"""

SPLIT_HELP = """\
Build the manifests of a published split protocol, exactly as its lists define it:
  catnet       CAT-Net (IJCV 2022) train / valid / test
  mvss         MVSS-Net: train CASIA v2; test CASIA v1+, Columbia, COVERAGE, NIST16, IMD2020
  trufor-test  TruFor (CVPR 2023) test lists
Give the root of each dataset with --root KEY=PATH (repeatable; KEY '*' serves every dataset), or
XFORGE_ROOT_<KEY> environment variables. Datasets without a root are left out and named in the report.
Writes OUT/<split>.jsonl and OUT/skipped.jsonl. The roots each protocol expects are documented in
data_builders/splits/<protocol>.py.

example:
  xforge data split --protocol catnet --root casia2=/data/CASIA --root imd2020=/data/IMD2020 --out splits/catnet
"""

STATS_HELP = """\
Count a manifest's samples per dataset, split, label and manipulation. With --root, also decode every
mask and report the share of forged pixels (mask coverage) as a histogram, plotted to a PNG.

example:
  xforge data stats splits/catnet/train.jsonl --root casia2=/data/CASIA --plot coverage.png
"""


def _add_scan_options(p) -> None:
    """Options shared by the commands that scan dataset folders (build, split)."""
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes reading headers (default: one per CPU, up to 8; 1 on 2-CPU machines)",
    )
    p.add_argument("--resize-masks", action="store_true", help=RESIZE_HELP)
    p.add_argument("--verify", action="store_true", help=VERIFY_HELP)


def register(subparsers) -> None:
    fmt = argparse.RawDescriptionHelpFormatter
    p = subparsers.add_parser(
        "build", help="scan one dataset into a manifest", description=BUILD_HELP, formatter_class=fmt
    )
    p.add_argument("dataset", help="dataset key (see the list below)", metavar="DATASET")
    p.add_argument("--root", required=True, type=Path, help="the dataset folder as its authors ship it")
    p.add_argument("--out", required=True, type=Path, help="manifest to write (JSONL)")
    _add_scan_options(p)
    p.set_defaults(func=cmd_build)
    _add_dataset_epilog(p)

    p = subparsers.add_parser(
        "split", help="build a published split protocol", description=SPLIT_HELP, formatter_class=fmt
    )
    p.add_argument("--protocol", required=True, help="catnet | mvss | trufor-test")
    p.add_argument(
        "--root", action="append", default=[], metavar="KEY=PATH", help="a dataset root (repeatable)"
    )
    p.add_argument("--out", required=True, type=Path, help="folder for <split>.jsonl and skipped.jsonl")
    _add_scan_options(p)
    p.set_defaults(func=cmd_split)
    _add_protocol_epilog(p)

    p = subparsers.add_parser(
        "stats", help="counts and mask coverage of a manifest", description=STATS_HELP, formatter_class=fmt
    )
    p.add_argument("manifest", type=Path, metavar="FILE.jsonl")
    p.add_argument(
        "--root", action="append", default=[], metavar="KEY=PATH", help="dataset roots, to read masks"
    )
    p.add_argument(
        "--plot", type=Path, default=None, help="coverage histogram PNG (default: <manifest>.coverage.png)"
    )
    p.add_argument("--bins", type=int, default=10, help="histogram bins over 0..100%% coverage")
    p.add_argument("--json", action="store_true", help="print the statistics as JSON")
    p.set_defaults(func=cmd_stats)


def _add_dataset_epilog(parser: argparse.ArgumentParser) -> None:
    from data_builders.registry import ADAPTERS

    parser.epilog = "datasets: " + ", ".join(ADAPTERS)


def _add_protocol_epilog(parser: argparse.ArgumentParser) -> None:
    from data_builders.splits import PROTOCOL_NAMES, get_protocol

    lines = ["dataset keys (--root KEY=PATH) each protocol reads:"]
    for name in PROTOCOL_NAMES:
        lines.append(f"  {name}: {', '.join(get_protocol(name).datasets())}")
    parser.epilog = "\n".join(lines)


def _report_skips(skips, out_path: Path) -> None:
    """Print the first skips and write all of them as JSONL: a skip is never silent."""
    from xforge.atomic import atomic_open

    out_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out_path, "w") as f:
        for dataset, skip in skips:
            f.write(json.dumps({"dataset": dataset, "path": skip.path, "reason": skip.reason}) + "\n")
    if not skips:
        return
    print(f"skipped {len(skips)} file(s) (all listed in {out_path}):", file=sys.stderr)
    for dataset, skip in skips[:MAX_SKIPS_SHOWN]:
        print(f"  {dataset}: {skip.path}: {skip.reason}", file=sys.stderr)
    if len(skips) > MAX_SKIPS_SHOWN:
        print(f"  ... and {len(skips) - MAX_SKIPS_SHOWN} more", file=sys.stderr)


def _skips_path(out: Path) -> Path:
    return out.with_name(out.stem + ".skipped.jsonl")


def cmd_build(args) -> int:
    """Exit 0 with a manifest written; 2 when nothing was written (bad usage, root, output or no sample)."""
    from data_builders.adapters.base import DatasetRootError
    from data_builders.registry import get_adapter
    from xforge.atomic import check_writable_file
    from xforge.data.manifest import write_jsonl

    try:
        adapter = get_adapter(args.dataset)
        # Outputs are checked before the scan, which can take hours on a large dataset.
        check_writable_file(args.out)
        check_writable_file(_skips_path(args.out))
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: --out {exc}", file=sys.stderr)
        return 2
    try:
        with tqdm(desc=f"{adapter.key}: reading headers", unit="file", total=None) as bar:
            result = adapter.build(
                args.root,
                workers=args.workers,
                progress=bar,
                resize_masks=args.resize_masks,
                verify=args.verify,
            )
    except DatasetRootError as exc:  # printed after the bar is closed, so the error is the last line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    skips = [(adapter.key, s) for s in result.skips]
    if not result.records:
        _report_skips(skips, _skips_path(args.out))
        print(
            f"error: no usable sample of {adapter.key} in {args.root}; no manifest written", file=sys.stderr
        )
        return 2
    n = write_jsonl(args.out, result.records)
    labels = Counter(r.label for r in result.records)
    print(f"wrote {n} records to {args.out} ({', '.join(f'{v} {k}' for k, v in sorted(labels.items()))})")
    _report_skips(skips, _skips_path(args.out))
    return 0


def cmd_split(args) -> int:
    from data_builders.splits import build_protocol, get_protocol
    from xforge.data.manifest import parse_roots, write_jsonl

    try:
        protocol = get_protocol(args.protocol)
        roots = parse_roots(args.root, must_exist=True)
    except (KeyError, ValueError) as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if not roots:
        print("error: give at least one --root KEY=PATH (see --help)", file=sys.stderr)
        return 2
    from xforge.atomic import check_writable_dir

    try:
        check_writable_dir(args.out)
    except OSError as exc:
        print(f"error: --out {exc}", file=sys.stderr)
        return 2
    with tqdm(desc=f"{protocol.name}: reading headers", unit="file", total=None) as bar:
        result = build_protocol(
            protocol,
            roots,
            workers=args.workers,
            progress=bar,
            resize_masks=args.resize_masks,
            verify=args.verify,
        )
    args.out.mkdir(parents=True, exist_ok=True)
    for split, records in sorted(result.records.items()):
        n = write_jsonl(args.out / f"{split}.jsonl", records)
        per_dataset = Counter(r.dataset for r in records)
        print(
            f"{split}: {n} records -> {args.out / (split + '.jsonl')} ({dict(sorted(per_dataset.items()))})"
        )
    for dataset, count in sorted(result.missing_roots.items()):
        what = f"{count} listed samples" if count is not None else "its samples (built from its folder)"
        print(f"note: no --root {dataset}=PATH given: {what} not built", file=sys.stderr)
    _report_skips(result.skips, args.out / "skipped.jsonl")
    if not any(result.records.values()):
        print(
            f"error: protocol {protocol.name} built no record from the roots given "
            f"({', '.join(sorted(roots))}); see the notes above",
            file=sys.stderr,
        )
        return 2
    return 0


def cmd_stats(args) -> int:
    from data_builders.stats import coverage_histogram, manifest_counts, plot_coverage
    from xforge.data.manifest import ManifestError, parse_roots, read_manifest

    try:
        records = read_manifest(args.manifest)
        roots = parse_roots(args.root)
    except (ManifestError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    stats = manifest_counts(records)
    coverage = None
    if roots:
        with tqdm(desc="decoding masks", unit="mask", total=sum(1 for r in records if r.mask)) as bar:
            coverage = coverage_histogram(records, roots, bins=args.bins, progress=bar)
        stats["coverage"] = coverage.summary()
    if args.json:
        print(json.dumps(stats, indent=2))
    else:
        print(f"{stats['total']} records in {args.manifest}")
        for group in ("dataset", "split", "label", "manipulation", "mask_format"):
            print(f"  by {group}: " + ", ".join(f"{k}={v}" for k, v in stats[f"by_{group}"].items()))
        if coverage is not None:
            print(coverage.text())
    if coverage is not None:
        if coverage.errors:
            _report_skips(
                coverage.errors, args.manifest.with_name(args.manifest.stem + ".stats-skipped.jsonl")
            )
        plot = args.plot or args.manifest.with_name(args.manifest.stem + ".coverage.png")
        plot_coverage(coverage, plot, title=args.manifest.name)
        print(f"coverage plot: {plot}")
    return 0
