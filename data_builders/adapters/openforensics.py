"""OpenForensics (Le et al., ICCV 2021): in-the-wild photos with GAN-swapped faces, COCO annotations.

Expected layout (the Zenodo release, record 5528418; annotation format as github.com/ltnghia/openforensics
reads it with pycocotools)::

    <root>/Train/<id>.jpg (also Val, Test-Dev, Test-Challenge; "Images/<subset>/" as the JSON names them)
    <root>/<Subset>_poly.json       COCO: ``images`` (id, file_name, width, height) and per-face
                                    ``annotations`` (image_id, category_id 1 = fake, 0 = real, polygons)

The mask of an image is the union of its fake faces' polygons (white = forged), rasterised once into
``<root>/xforge_masks/openforensics/<Subset>/<stem>.png`` (the release ships none; a build on a read-only
root reports those images as skipped). An image with no fake face is authentic. Subset -> split: Train ->
train, Val -> valid, Test-Dev and Test-Challenge -> test.

Without a ``*_poly.json``, the pre-rendered masks TruFor's test list names are read instead::

    <root>/Test-Dev/<id>.jpg  +  <root>/Annotations_GT/Images/<subset>/<id>.png   (tampered only)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import PurePosixPath

import cv2
import numpy as np

from data_builders.adapters.base import DatasetAdapter, FileIndex, name, stem, under
from data_builders.probe import Candidate, Skip

SUBSET_SPLITS = {"train": "train", "val": "valid", "test-dev": "test", "test-challenge": "test"}
_SUBSET = re.compile(r"Train|Val|Test-Dev|Test-Challenge", re.IGNORECASE)
_POLY_JSON = re.compile(r"(Train|Val|Test-Dev|Test-Challenge)_poly\.json", re.IGNORECASE)
_GT_DIR = re.compile(r"Annotations_GT", re.IGNORECASE)
RENDER_DIR = "xforge_masks/openforensics"
_RENDERED = re.compile(r"xforge_masks", re.IGNORECASE)


class AnnotationError(ValueError):
    """A ``*_poly.json`` that is not the COCO structure OpenForensics ships."""


def fake_category_ids(coco: dict) -> set[int]:
    """Ids of the 'fake' category: by name when the JSON lists categories, else 1 (the release's id)."""
    cats = coco.get("categories") or []
    named = {c.get("id") for c in cats if str(c.get("name", "")).lower() == "fake"}
    return named or {1}


def render_polygons(polygons: list[list[float]], width: int, height: int) -> np.ndarray:
    """uint8 mask, 255 inside the union of COCO polygons (flat ``[x1, y1, x2, y2, ...]`` lists)."""
    mask = np.zeros((height, width), np.uint8)
    pts = [
        np.round(np.asarray(p, np.float64).reshape(-1, 2)).astype(np.int32) for p in polygons if len(p) >= 6
    ]
    if pts:
        cv2.fillPoly(mask, pts, 255)
    return mask


class OpenForensicsAdapter(DatasetAdapter):
    key = "openforensics"
    title = "OpenForensics"
    manipulation = ("ai-edit",)

    def scan(self, files: FileIndex) -> Iterator[Candidate | Skip]:
        tables = [p for p in files.paths if _POLY_JSON.fullmatch(name(p)) and not under(p, _RENDERED)]
        covered: set[str] = set()  # images some JSON names, read or skipped
        for table in tables:
            yield from self._scan_table(files, table, covered)
        yield from self._scan_pre_rendered(files, covered)

    def _scan_table(self, files: FileIndex, table: str, covered: set[str]) -> Iterator[Candidate | Skip]:
        subset = _POLY_JSON.fullmatch(name(table)).group(1)
        try:
            with open(files.root / table, encoding="utf-8") as f:
                coco = json.load(f)
            images, annotations = coco["images"], coco["annotations"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            yield Skip(table, f"not a readable COCO annotation file ({exc.__class__.__name__}: {exc})")
            return
        fake = fake_category_ids(coco)
        polygons: dict[object, list[list[float]]] = {}
        faces: dict[object, int] = {}
        odd: dict[object, str] = {}
        for ann in annotations:
            if ann.get("category_id") not in fake:
                continue
            seg = ann.get("segmentation")
            if isinstance(seg, list) and all(isinstance(p, list) for p in seg):
                polygons.setdefault(ann.get("image_id"), []).extend(seg)
                faces[ann.get("image_id")] = faces.get(ann.get("image_id"), 0) + 1
            else:
                odd[ann.get("image_id")] = "a fake face's segmentation is not a polygon list"
        split = SUBSET_SPLITS[subset.lower()]
        table_dir = str(PurePosixPath(table).parent)
        for entry in images:
            file_name = str(entry.get("file_name", ""))
            image = self._resolve(files, table_dir, subset, file_name)
            if image is None:
                yield Skip(f"{table}:{file_name}", "named in the annotations but not found under the root")
                continue
            covered.add(image)
            image_id = entry.get("id")
            if image_id in odd:
                yield Skip(image, f"{odd[image_id]} ({table})")
                continue
            if image_id not in polygons:
                cand = self.authentic(image)
            else:
                try:
                    mask = self._render(files, subset, image, polygons[image_id], entry)
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    yield Skip(image, f"cannot render its mask from {table}: {exc}")
                    continue
                cand = self.tampered(image, mask)
                cand.meta = {"fake_faces": faces[image_id]}
            cand.split = split
            yield cand

    def _resolve(self, files: FileIndex, table_dir: str, subset: str, file_name: str) -> str | None:
        """The image a JSON ``file_name`` (``Images/Train/x.jpg``) names, wherever the user unpacked it."""
        rel = file_name.lstrip("/")
        for candidate in (rel, f"{table_dir}/{rel}" if table_dir != "." else rel):
            if candidate in files:
                return candidate
        hits = [
            h
            for h in files.by_name.get(name(rel), [])
            if under(h, _SUBSET) and not under(h, _GT_DIR) and not under(h, _RENDERED)
        ]
        same_subset = [h for h in hits if any(p.lower() == subset.lower() for p in h.split("/")[:-1])]
        return (same_subset or hits or [None])[0]

    def _render(self, files: FileIndex, subset: str, image: str, polygons: list, entry: dict) -> str:
        rel = f"{RENDER_DIR}/{subset}/{stem(image)}.png"
        path = files.root / rel
        if not path.is_file():
            width, height = int(entry["width"]), int(entry["height"])
            if width <= 0 or height <= 0:
                raise ValueError(f"image size {width}x{height} in the annotations")
            os.makedirs(path.parent, exist_ok=True)
            tmp = path.with_suffix(".tmp.png")
            if not cv2.imwrite(str(tmp), render_polygons(polygons, width, height)):
                raise OSError(f"cannot write {rel}")
            os.replace(tmp, path)  # atomic: an interrupted build leaves no half-written mask
        return rel

    def _scan_pre_rendered(self, files: FileIndex, covered: set[str]) -> Iterator[Candidate | Skip]:
        for image in files.images():
            if image in covered or not under(image, _SUBSET):
                continue
            if under(image, _GT_DIR) or under(image, _RENDERED):
                continue
            mask = files.find(f"{stem(image)}.png", near=image, folder=_GT_DIR)
            if mask is None:
                yield Skip(
                    image,
                    "no <Subset>_poly.json names it and no Annotations_GT/Images/<subset>/"
                    f"{stem(image)}.png mask is there",
                )
                continue
            cand = self.tampered(image, mask)
            subset = next((p for p in image.split("/")[:-1] if _SUBSET.fullmatch(p)), None)
            cand.split = SUBSET_SPLITS.get(subset.lower()) if subset else None
            yield cand
