"""TGIF and TGIF2, Text-Guided Inpainting Forgeries (Mareen et al., WIFS 2024; JIS 2026).

Expected layout (github.com/IDLabMedia/tgif-dataset, README sections "Download" and "Filenaming")::

    <root>/<subset>/{training,validation,testing}[/<category>]/<file>

    subset: masks, original, SD2-sp, PS-sp, SD2-fr, SDXL-fr                         (TGIF)
            flux1{schnell,dev,filldev}-{sp,fr}, masks-flux, original-flux           (TGIF2 FLUX)
            {sd2,sdxl,flux1*}[-random]-{sp,fr}, masks-{sd2,sdxl,flux}                (TGIF2 random)

    original:  {id}_orig.png (authentic); {id}_orig_{512|1024}.png (the crop a -fr image regenerates)
    masks:     {id}_mask_{type}.png, {id}_mask_{type}_{512|1024}.png, {id}_mask_{type}.png_ps_mask.png
    -sp:       {id}_mask_{type}.png_ps_mask.png_{model}_{v}.png    mask: the name up to ``_ps_mask.png``
               {id}_mask_random.png_{model}_{v}.png                 mask: {id}_mask_random.png
    PS-sp:     {id}_mask_{type}.png_ps_{v}.png                      mask: {id}_mask_{type}.png_ps_mask.png
    -fr:       {id}_mask_{type}.png_{model}-{512|1024}_{v}.png      mask: {id}_mask_{type}_{512|1024}.png,
                                                                    original: {id}_orig_{512|1024}.png

with type bbox, segm or random; masks are white = inpainted. Names and folders match case-insensitively.
A mask is looked up in the same split/category folder of the masks folder that goes with the generator
(``masks``; FLUX: ``masks-flux`` then ``masks``, where the README says the ``*ps_mask.png`` masks of the
FLUX -sp sets stay; random: ``masks-{sd2,sdxl,flux}``), anywhere in that masks folder if not there. The
split comes from the ``training|validation|testing`` folder; ``meta`` records generator, sp/fr, mask type
and category. Authentic records are the uncropped ``{id}_orig.png`` (one per id, the first of
``original``/``original-flux``), so a photo is not counted once per crop.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from data_builders.adapters.base import DatasetAdapter, FileIndex
from data_builders.probe import Candidate, Skip

_GEN_DIR = re.compile(
    r"(?P<gen>sd2|sdxl|ps|flux1schnell|flux1dev|flux1filldev)(?P<random>-random)?-(?P<kind>sp|fr)",
    re.IGNORECASE,
)
_ORIG_DIR = re.compile(r"original(-flux)?", re.IGNORECASE)
_SPLITS = {"training": "train", "validation": "valid", "testing": "test"}
_FR = re.compile(
    r"(?P<id>\d+)_mask_(?P<type>[a-z]+)\.png_(?P<model>[\w.]+?)-(?P<size>512|1024)_(?P<v>\d+)\.png", re.I
)
_SP = re.compile(
    r"(?P<mask>(?P<id>\d+)_mask_(?P<type>[a-z]+)\.png(?:_ps_mask\.png)?)_(?P<model>[\w.]+?)_(?P<v>\d+)\.png",
    re.I,
)
_ORIG = re.compile(r"\d+_orig\.png", re.IGNORECASE)


def _family(gen: str) -> str:
    return "flux" if gen.startswith("flux") else gen


class TgifAdapter(DatasetAdapter):
    key = "tgif"
    title = "TGIF / TGIF2"
    manipulation = ("inpainting", "ai-edit")

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        by_lower = {p.lower(): p for p in files.paths}
        seen_orig: set[str] = set()
        for image in files.images():
            *folders, base = image.split("/")
            at = next((i for i, f in enumerate(folders) if _GEN_DIR.fullmatch(f)), None)
            if at is not None:
                yield self._fake(files, by_lower, folders, at, base)
                continue
            at = next((i for i, f in enumerate(folders) if _ORIG_DIR.fullmatch(f)), None)
            if at is not None and _ORIG.fullmatch(base) and base.lower() not in seen_orig:
                seen_orig.add(base.lower())
                cand = self.authentic(image)
                cand.split, category = _split_and_category(folders[at + 1 :])
                if category:
                    cand.meta = {"category": category}
                yield cand

    def _fake(
        self, files: FileIndex, by_lower: dict[str, str], folders: list[str], at: int, base: str
    ) -> Candidate | Skip:
        image = "/".join([*folders, base])
        gen_dir = _GEN_DIR.fullmatch(folders[at])
        gen, random = gen_dir.group("gen").lower(), bool(gen_dir.group("random"))
        fr, sp = _FR.fullmatch(base), _SP.fullmatch(base)
        if fr:
            coco, mask_type, size = fr.group("id"), fr.group("type").lower(), fr.group("size")
            mask_names = [f"{coco}_mask_{mask_type}_{size}.png"]
            if mask_type == "random":
                mask_names.append(f"{coco}_mask_random.png")
            orig_name, kind = f"{coco}_orig_{size}.png", "fr"
        elif sp:
            coco, mask_type = sp.group("id"), sp.group("type").lower()
            mask = sp.group("mask")
            if sp.group("model").lower() == "ps" and not mask.lower().endswith("_ps_mask.png"):
                mask += "_ps_mask.png"  # PS-sp names drop the "_ps_mask.png" of the mask they used
            mask_names, orig_name, kind = [mask], f"{coco}_orig.png", "sp"
        else:
            return Skip(image, "name does not follow TGIF's file naming (README, 'Filenaming')")
        if random or mask_type == "random":
            mask_dirs = [f"masks-{_family(gen)}", "masks"]
        elif gen.startswith("flux"):
            mask_dirs = ["masks-flux", "masks"]
        else:
            mask_dirs = ["masks"]
        prefix, rest = folders[:at], folders[at + 1 :]
        mask = _lookup(files, by_lower, prefix, rest, mask_dirs, mask_names)
        if mask is None:
            tried = [f"{d}/{'/'.join(rest)}/{n}" for d in mask_dirs for n in mask_names]
            return Skip(image, f"no ground-truth mask found (looked for {', '.join(tried)})")
        cand = self.tampered(image, mask)
        orig_dirs = ["original-flux", "original"] if gen.startswith("flux") else ["original"]
        cand.original = _lookup(files, by_lower, prefix, rest, orig_dirs, [orig_name])
        cand.split, category = _split_and_category(rest)
        cand.meta = {"generator": gen, "kind": kind, "mask_type": mask_type}
        if category:
            cand.meta["category"] = category
        return cand


def _lookup(
    files: FileIndex,
    by_lower: dict[str, str],
    prefix: list[str],
    rest: list[str],
    dirs: list[str],
    names: list[str],
) -> str | None:
    """The file named one of ``names`` in the same split/category folder of the first of ``dirs`` that has it
    (case-insensitive), else anywhere in that folder."""
    for d in dirs:
        for n in names:
            hit = by_lower.get("/".join([*prefix, d, *rest, n]).lower())
            if hit:
                return hit
    for d in dirs:
        folder = re.compile(re.escape(d), re.IGNORECASE)
        for n in names:
            hit = files.find(n, near="/".join([*prefix, d, *rest, n]), ignore_case=True, folder=folder)
            if hit:
                return hit
    return None


def _split_and_category(rest: list[str]) -> tuple[str | None, str | None]:
    for i, folder in enumerate(rest):
        split = _SPLITS.get(folder.lower())
        if split:
            return split, rest[i + 1] if i + 1 < len(rest) else None
    return None, None
