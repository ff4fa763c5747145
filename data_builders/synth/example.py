"""Make the README's example forgeries: a copy-move and a splice of a public-domain photo, with their masks.

    python -m data_builders.synth.example --host astronaut.png --donor rocket.jpg --out xforge/assets/examples

The shipped examples use two public-domain photos from scikit-image's sample data: ``astronaut.png`` (NASA,
Eileen Collins; "no known copyright restrictions, released into the public domain") as the host and
``rocket.jpg`` (SpaceX's DSCOVR launch, released into the public domain) as the splice donor. The edits are
made by this project's own generator with the seeds below, so the output can be rebuilt exactly.

The splice's host is first saved as a camera or a web page would have saved it (JPEG quality
``SPLICE_HOST_QUALITY``) and decoded again, as nearly every photo a forger starts from is a JPEG; the edited
image is then saved at ``QUALITY``. ``--splice-host-quality 0`` pastes into the never-compressed PNG instead,
which is how the example was made until the classical engine's splice work (issue 18): that splice carries
no double-compression trace, and the weight-free engine misses it (README, "Limits").
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from data_builders.synth.config import SynthConfig
from data_builders.synth.edits import Source, copy_move, splice
from data_builders.synth.generator import mask_file_bytes
from data_builders.synth.postprocess import decode_bytes, encode_jpeg
from xforge.data.images import read_image

# Plain edits (no random post-processing) so the example shows the edit itself; saved as JPEG quality 90.
CONFIG = SynthConfig(
    max_side=0,
    area=(0.03, 0.06),
    shapes=("blob", "ellipse"),
    p_feather=1.0,
    p_colour_match=1.0,
    p_donor_jpeg=0.0,
    splice_rotation=(-10.0, 10.0),
    copy_move_rotation=(-20.0, 20.0),
)
QUALITY = 90
SPLICE_HOST_QUALITY = 80


def make_examples(
    host_path: Path,
    donor_path: Path,
    out: Path,
    seeds: tuple[int, int] = (0, 0),
    splice_host_quality: int | None = SPLICE_HOST_QUALITY,
) -> list[dict]:
    host = Source(host_path.name, read_image(host_path))
    donor = Source(donor_path.name, read_image(donor_path))
    splice_host = host
    if splice_host_quality:
        splice_host = Source(host_path.name, decode_bytes(encode_jpeg(host.image, splice_host_quality)))
    out.mkdir(parents=True, exist_ok=True)
    stem = host_path.stem
    results = []
    for name, make, seed, extra in (
        ("copy-move", lambda rng: copy_move(host, rng, CONFIG), seeds[0], {}),
        (
            "splice",
            lambda rng: splice(splice_host, donor, rng, CONFIG),
            seeds[1],
            {"host_jpeg_quality": splice_host_quality or None},
        ),
    ):
        forgery = make(np.random.default_rng(seed))
        image_name = f"{stem}_{name.replace('-', '')}.jpg"
        mask_name = f"{stem}_{name.replace('-', '')}_mask.png"
        (out / image_name).write_bytes(encode_jpeg(forgery.image, QUALITY))
        (out / mask_name).write_bytes(mask_file_bytes(forgery.mask, forgery.mask_format))
        results.append(
            {
                "image": image_name,
                "mask": mask_name,
                "mask_format": forgery.mask_format,
                "manipulation": forgery.manipulation,
                "seed": seed,
                "jpeg_quality": QUALITY,
                "meta": forgery.meta | extra,
            }
        )
    (out / f"{stem}_original.jpg").write_bytes(encode_jpeg(host.image, QUALITY))
    (out / "examples.json").write_text(json.dumps(results, indent=2), encoding="utf-8")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", type=Path, required=True)
    parser.add_argument("--donor", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", type=int, nargs=2, default=(0, 0), metavar=("COPY_MOVE", "SPLICE"))
    parser.add_argument(
        "--splice-host-quality",
        type=int,
        default=SPLICE_HOST_QUALITY,
        help="JPEG quality the splice's host is saved at before the paste; 0: none (default %(default)s)",
    )
    args = parser.parse_args()
    make_examples(args.host, args.donor, args.out, tuple(args.seeds), args.splice_host_quality)


if __name__ == "__main__":
    main()
