"""Dataset readers on trees built from each release's PUBLISHED names, not from the reader's own guesses.

SafireMS: SAFIRE's own list files (``tests/data/safire/``: the full Expert lists, the first 24 lines of the
Auto sp/cm lists; the Auto valid/test lists the reader packages). TGIF: the names of its README
("Download", "Filenaming"). OpenForensics: its COCO ``<Subset>_poly.json``. AutoSplice, Dolos, NIST16, VIPP:
the folder and file names of their releases. Every test asserts exact record counts per label and decodes
every tampered record's mask.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from data_fakes import SOURCES, TRUTH, write, write_image, write_mask

from data_builders.adapters.base import DatasetAdapter
from data_builders.adapters.safire_ms_auto import list_lines
from data_builders.registry import get_adapter
from xforge.data.masks import load_record_mask

SAFIRE_LISTS = Path(__file__).parent / "data" / "safire"


def build(key: str, root: Path, *, unmasked: set[str] = frozenset()):
    """Build ``key`` under ``root``; check every record's mask; return (records by image, label counts, skips)."""
    result = get_adapter(key).build(root, workers=1)
    for r in result.records:
        mask = load_record_mask(r, root)
        if r.label == "tampered" and r.image not in unmasked:
            expected = SOURCES if r.mask_format == "multi_source_gray" else TRUTH
            assert mask is not None and (mask == expected).all(), f"{key}: wrong mask for {r.image}"
        else:
            assert mask is None and r.mask is None, r.image
    by_image = {r.image: r for r in result.records}
    assert len(by_image) == len(result.records)
    return by_image, Counter(r.label for r in result.records), {s.path: s.reason for s in result.skips}


def lines(path: Path) -> list[list[str]]:
    return [ln.strip().split(",") for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


# -- SafireMS ---------------------------------------------------------------------------------------------


def test_safire_ms_expert_from_safire_lists(tmp_path):
    pairs = [p for n in (2, 3, 4) for p in lines(SAFIRE_LISTS / f"Safire_ms{n}.txt")]
    assert len(pairs) == 238
    for image, mask in pairs:
        write_image(tmp_path, image)
        write_mask(tmp_path, mask, "multi_source_gray")
    # a stray mask of another subset under the same name must not be taken
    write_image(tmp_path, "ms2_images/0999_DPR_1_2_3.jpg.png_sp.png")
    write_mask(tmp_path, "ms3_masks/0999_DPR_1_2_3.jpg.png_sp.png", "multi_source_gray")
    records, counts, skips = build("safire_ms", tmp_path)
    assert counts == {"tampered": 238}
    assert {(r.image, r.mask) for r in records.values()} == {tuple(p) for p in pairs}
    assert Counter(r.meta["subset"] for r in records.values()) == {"ms2": 32, "ms3": 118, "ms4": 88}
    assert {r.split for r in records.values()} == {"test"}
    assert "ms2_masks/0999_DPR_1_2_3.jpg.png_sp.png" in skips["ms2_images/0999_DPR_1_2_3.jpg.png_sp.png"]


def _auto_lines() -> list[tuple[str, str, str]]:
    """(image, mask, split SAFIRE gives it) for the shipped heads of the sp/cm lists and 6 lines of each
    packaged valid/test list (two of which the heads hold too)."""
    listed = {}
    for subset in ("sp", "cm", "rm", "gn"):
        for split in ("valid", "test"):
            for line in list_lines(f"SafireMSAuto_{subset}_{split}.txt"):
                listed[line.split(",")[0]] = split
    out = []
    for subset in ("sp", "cm"):
        for image, mask in lines(SAFIRE_LISTS / f"SafireMSAuto_{subset}_list.head24.txt"):
            out.append((image, mask, listed.get(image, "train")))
    for subset in ("sp", "cm", "rm", "gn"):
        for split in ("valid", "test"):
            for line in list_lines(f"SafireMSAuto_{subset}_{split}.txt")[:6]:
                image, mask = line.split(",")
                out.append((image, mask, split))
    return list(dict.fromkeys(out))


def test_safire_ms_auto_from_safire_lists(tmp_path):
    entries = _auto_lines()
    assert len({e[0] for e in entries}) == len(entries) == 94
    for image, mask, _ in entries:
        write_image(tmp_path, image)
        write_mask(tmp_path, mask, "nonzero_forged")  # faint grey: only "> 0" reads it as forged
    write_image(tmp_path, "rm/inpainting/000/9999999999_0000000000.jpg.png")  # its mask is missing
    records, counts, skips = build("safire_ms_auto", tmp_path)
    assert counts == {"tampered": 94}
    # the reader's pairing rules give exactly the mask SAFIRE's lists name
    assert {(r.image, r.mask, r.split) for r in records.values()} == set(entries)
    assert Counter(r.meta["subset"] for r in records.values()) == {"sp": 35, "cm": 35, "rm": 12, "gn": 12}
    assert Counter(r.split for r in records.values()) == {"train": 46, "valid": 24, "test": 24}
    assert records[entries[0][0]].manipulation == ["splice"]
    assert (
        "rm/inpainting_mask/000/9999999999_0000000000.jpg.png"
        in skips["rm/inpainting/000/9999999999_0000000000.jpg.png"]
    )


# -- AutoSplice -------------------------------------------------------------------------------------------


def test_autosplice_shared_masks_and_captions(tmp_path):
    forged = [f"Forged_JPEG{q}/101_{k}.jpg" for q in (100, 90, 75) for k in (0, 1)] + [
        "Forged_JPEG75/102_0.jpg"
    ]
    for p in [
        *forged,
        "Forged_JPEG90/104_0.jpg",
        "Authentic/101.jpg",
        "Authentic/102.jpg",
        "Authentic/103.jpg",
    ]:
        write_image(tmp_path, p)
    write_mask(tmp_path, "Mask/101_mask.png", "white_forged")
    write_mask(tmp_path, "Mask/102_mask.png", "white_forged")
    write(tmp_path, "Caption/101_1.txt", b"a red kite over the beach\n")
    records, counts, skips = build("autosplice", tmp_path)
    assert counts == {"tampered": 7, "authentic": 3}
    assert {records[p].mask for p in forged} == {"Mask/101_mask.png", "Mask/102_mask.png"}
    assert records["Forged_JPEG90/101_1.jpg"].meta == {
        "photo": "101",
        "jpeg_quality": 90,
        "caption": "a red kite over the beach",
    }
    assert "Mask/104_mask.png" in skips["Forged_JPEG90/104_0.jpg"]


# -- TGIF / TGIF2 -----------------------------------------------------------------------------------------

_TGIF_FAKES = {  # fake -> its mask, from the README's "Filenaming"
    "SD2-sp/testing/airplane/208901_mask_bbox.png_ps_mask.png_sd2_0.png":
        "masks/testing/airplane/208901_mask_bbox.png_ps_mask.png",
    "PS-sp/testing/airplane/208901_mask_bbox.png_ps_1.png": "masks/testing/airplane/208901_mask_bbox.png_ps_mask.png",
    "SD2-fr/testing/airplane/208901_mask_bbox.png_sd2-512_2.png": "masks/testing/airplane/208901_mask_bbox_512.png",
    "SDXL-fr/testing/airplane/208901_mask_segm.png_sdxl-1024_0.png":
        "masks/testing/airplane/208901_mask_segm_1024.png",
    "SD2-sp/training/dog/90631_MASK_SEGM.png_ps_mask.png_sd2_1.png":  # upper case: matched regardless
        "masks/training/dog/90631_mask_segm.png_ps_mask.png",
    "flux1dev-sp/testing/airplane/208901_mask_segm.png_ps_mask.png_flux1dev_0.png":
        "masks/testing/airplane/208901_mask_segm.png_ps_mask.png",
    "flux1dev-fr/testing/airplane/208901_mask_segm.png_flux1dev-1024_1.png":
        "masks-flux/testing/airplane/208901_mask_segm_1024.png",
    "sd2-random-sp/testing/airplane/208901_mask_random.png_sd2_0.png":
        "masks-sd2/testing/airplane/208901_mask_random.png",
    "sdxl-random-fr/testing/airplane/208901_mask_random.png_sd2-1024_2.png":
        "masks-sdxl/testing/airplane/208901_mask_random_1024.png",
}  # fmt: skip


def test_tgif_and_tgif2_from_the_readme_names(tmp_path):
    for fake, mask in _TGIF_FAKES.items():
        write_image(tmp_path, fake)
        write_mask(tmp_path, mask, "white_forged")
    # TGIF's own 1024 crop mask of the same id: FLUX's -fr images must use masks-flux (other crop) instead
    write_mask(tmp_path, "masks/testing/airplane/208901_mask_segm_1024.png", "white_forged")
    write_mask(tmp_path, "masks-sdxl/testing/airplane/208901_mask_random.png", "white_forged", size=(16, 16))
    for p in ("original/testing/airplane/208901_orig.png", "original/testing/airplane/208901_orig_512.png",
              "original/testing/airplane/208901_orig_1024.png", "original/training/dog/90631_orig.png",
              "original-flux/testing/airplane/208901_orig.png", "original-flux/testing/airplane/208901_orig_1024.png",
              "SD2-sp/testing/airplane/208901_unrelated.png"):  # fmt: skip
        write_image(tmp_path, p)
    records, counts, skips = build("tgif", tmp_path)
    assert counts == {"tampered": 9, "authentic": 2}
    assert {f: records[f].mask for f in _TGIF_FAKES} == _TGIF_FAKES
    assert records["original/testing/airplane/208901_orig.png"].split == "test"
    assert records["original/training/dog/90631_orig.png"].split == "train"
    sp = records["SD2-sp/testing/airplane/208901_mask_bbox.png_ps_mask.png_sd2_0.png"]
    assert sp.meta == {"generator": "sd2", "kind": "sp", "mask_type": "bbox", "category": "airplane"}
    assert sp.original == "original/testing/airplane/208901_orig.png" and sp.split == "test"
    fr = records["flux1dev-fr/testing/airplane/208901_mask_segm.png_flux1dev-1024_1.png"]
    assert fr.meta["kind"] == "fr" and fr.original == "original-flux/testing/airplane/208901_orig_1024.png"
    assert (
        records["sdxl-random-fr/testing/airplane/208901_mask_random.png_sd2-1024_2.png"].meta["generator"]
        == "sdxl"
    )
    assert "Filenaming" in skips["SD2-sp/testing/airplane/208901_unrelated.png"]


# -- OpenForensics ----------------------------------------------------------------------------------------

# TRUTH (rows 2..5, columns 1..4) as two fake faces; a real face elsewhere must stay out of the mask.
_FAKE_FACES = [[[1, 2, 4, 2, 4, 3, 1, 3]], [[1, 4, 4, 4, 4, 5, 1, 5]]]
_REAL_FACE = [[6, 6, 7, 6, 7, 7, 6, 7]]


def _coco(file_names: list[str], faces: dict[int, list[tuple[int, list]]]) -> bytes:
    return json.dumps(
        {
            "categories": [{"id": 0, "name": "Real"}, {"id": 1, "name": "Fake"}],
            "images": [
                {"id": i, "file_name": f, "width": 8, "height": 8} for i, f in enumerate(file_names, 1)
            ],
            "annotations": [
                {"id": n, "image_id": img, "category_id": cat, "segmentation": seg, "iscrowd": 0}
                for n, (img, cat, seg) in enumerate(
                    ((img, cat, seg) for img, anns in faces.items() for cat, seg in anns), 1
                )
            ],
        }
    ).encode()


def test_openforensics_rasterises_fake_faces_from_coco_polygons(tmp_path):
    names = ["Images/Val/0a1b2c3d4e.jpg", "Images/Val/1f2e3d4c5b.jpg", "Images/Val/2a2a2a2a2a.jpg"]
    faces = {1: [(1, _FAKE_FACES[0]), (1, _FAKE_FACES[1]), (0, _REAL_FACE)], 2: [(0, _REAL_FACE)]}
    write(tmp_path, "Val_poly.json", _coco(names, faces))
    for n in names:
        write_image(tmp_path, n.removeprefix("Images/"))  # unpacked as Val/<id>.jpg, not Images/Val/
    write_image(tmp_path, "Test-Dev/d1ccd04012.jpg")  # TruFor's alternative: a pre-rendered mask
    write_mask(tmp_path, "Annotations_GT/Images/Test-Dev/d1ccd04012.png", "white_forged")
    records, counts, skips = build("openforensics", tmp_path)
    assert counts == {"tampered": 2, "authentic": 2}
    fake = records["Val/0a1b2c3d4e.jpg"]
    assert fake.mask == "xforge_masks/openforensics/Val/0a1b2c3d4e.png" and fake.split == "valid"
    assert fake.meta == {"fake_faces": 2}
    assert records["Val/1f2e3d4c5b.jpg"].label == records["Val/2a2a2a2a2a.jpg"].label == "authentic"
    assert records["Test-Dev/d1ccd04012.jpg"].mask == "Annotations_GT/Images/Test-Dev/d1ccd04012.png"
    again, _, _ = build("openforensics", tmp_path)  # the rendered mask is reused, not an image itself
    assert set(again) == set(records) and not skips


def test_openforensics_unwritable_root_skips_with_a_reason(tmp_path, monkeypatch):
    import data_builders.adapters.openforensics as of

    write(tmp_path, "Val_poly.json", _coco(["Images/Val/0a1b2c3d4e.jpg"], {1: [(1, _FAKE_FACES[0])]}))
    write_image(tmp_path, "Val/0a1b2c3d4e.jpg")
    monkeypatch.setattr(of.cv2, "imwrite", lambda *args: False)  # what cv2 returns on a read-only folder
    result = get_adapter("openforensics").build(tmp_path, workers=1)
    assert not result.records
    assert (
        "cannot write xforge_masks/openforensics/Val/0a1b2c3d4e.png"
        in {s.path: s.reason for s in result.skips}["Val/0a1b2c3d4e.jpg"]
    )


# -- Dolos ------------------------------------------------------------------------------------------------


def test_dolos_sibling_masks_only_and_p2_is_synthetic(tmp_path):
    for p in ("celebahq/real/test/00001.png", "ffhq/real/train/00009.png", "celebahq/fake/p2/test/00002.png",
              "ffhq/fake/p2/train/00004.png", "celebahq/fake/ldm/images/test/00003.png",
              "celebahq/fake/lama/images/test/00003.png", "celebahq/fake/repaint-p2/images/train/00005.png"):  # fmt: skip
        write_image(tmp_path, p)
    write_mask(tmp_path, "celebahq/fake/ldm/masks/test/00003.png", "dolos")
    write_mask(tmp_path, "celebahq/fake/repaint-p2/masks/train/00005.png", "dolos")
    records, counts, skips = build("dolos", tmp_path)
    assert counts == {"tampered": 2, "authentic": 2, "synthetic": 2}
    assert records["celebahq/fake/ldm/images/test/00003.png"].mask == "celebahq/fake/ldm/masks/test/00003.png"
    # lama's 00003.png has no mask of its own; ldm's mask of the same name must not be borrowed
    assert "celebahq/fake/lama/masks/test/00003.png" in skips["celebahq/fake/lama/images/test/00003.png"]
    p2 = records["celebahq/fake/p2/test/00002.png"]
    assert (p2.label, p2.manipulation, p2.meta, p2.split, p2.mask) == (
        "synthetic",
        ["full-synthetic"],
        {"generator": "p2"},
        "test",
        None,  # fully generated: no region, so no mask
    )
    assert records["celebahq/fake/repaint-p2/images/train/00005.png"].split == "train"


# -- NIST16 -----------------------------------------------------------------------------------------------

NIST_MANIP = """TaskID|ProbeFileID|ProbeFileName|ProbeMaskFileName|IsTarget|IsManipulationTypeRemoval|IsManipulationTypeSplice|IsManipulationTypeCopyClone
manipulation|NC2016_0128|probe/NC2016_0128.jpg|reference/manipulation/mask/NC2016_0128.png|Y|N|Y|N
manipulation|NC2016_0136|probe/NC2016_0136.jpg||N|N|N|N
manipulation|NC2016_0674|probe/NC2016_0674.jpg|reference/manipulation/mask/NC2016_0674.png|Y|Y|N|N
manipulation|NC2016_1001|probe/NC2016_1001.jpg|reference/manipulation/mask/NC2016_1001.png|Y|N|N|Y
"""
NIST_SPLICE = """TaskID|ProbeFileID|ProbeFileName|ProbeMaskFileName|DonorFileID|DonorFileName|DonorMaskFileName|IsTarget|ProbePostProcessed
splice|NC2016_0128|probe/NC2016_0128.jpg|reference/splice/mask/NC2016_3942.png|NC2016_3272|world/NC2016_3272.jpg||Y|N
splice|NC2016_0136|probe/NC2016_0136.jpg|||||N|N
splice|NC2016_1001|probe/NC2016_1001.jpg||NC2016_3273|world/NC2016_3273.jpg||N|N
splice|NC2016_1002|probe/NC2016_1002.jpg||NC2016_3274|world/NC2016_3274.jpg||N|N
splice|NC2016_9999|probe/NC2016_9999.jpg|reference/splice/mask/NC2016_9999.png||||Y|N
"""
NIST_REMOVAL = """TaskID|ProbeFileID|ProbeFileName|ProbeMaskFileName|IsTarget
removal|NC2016_0674|probe/NC2016_0674.jpg|reference/remove/mask/NC2016_0674.png|Y
"""


def test_nist16_label_from_the_manipulation_csv(tmp_path):
    for n in ("0128", "0136", "0674", "1001", "1002"):
        write_image(tmp_path, f"probe/NC2016_{n}.jpg")
    write_image(tmp_path, "world/NC2016_3272.jpg")
    for m in ("reference/splice/mask/NC2016_3942.png", "reference/manipulation/mask/NC2016_0128.png",
              "reference/manipulation/mask/NC2016_0674.png", "reference/manipulation/mask/NC2016_1001.png",
              "reference/remove/mask/NC2016_0674.png"):  # fmt: skip
        write_mask(tmp_path, m, "black_forged")
    write(tmp_path, "reference/manipulation/NC2016-manipulation-ref.csv", NIST_MANIP.encode())
    write(tmp_path, "reference/splice/NC2016-splice-ref.csv", NIST_SPLICE.encode())
    write(tmp_path, "reference/remove/NC2016-removal-ref.csv", NIST_REMOVAL.encode())
    records, counts, skips = build("nist16", tmp_path)
    assert counts == {"tampered": 3, "authentic": 1}
    assert {i: (r.label, r.mask) for i, r in records.items()} == {
        "probe/NC2016_0128.jpg": ("tampered", "reference/splice/mask/NC2016_3942.png"),
        "probe/NC2016_0136.jpg": ("authentic", None),
        "probe/NC2016_0674.jpg": ("tampered", "reference/remove/mask/NC2016_0674.png"),
        # a non-target of the splice task, but manipulated (copy-clone): tampered, its manipulation mask
        "probe/NC2016_1001.jpg": ("tampered", "reference/manipulation/mask/NC2016_1001.png"),
    }
    assert records["probe/NC2016_0128.jpg"].original == "world/NC2016_3272.jpg"
    assert records["probe/NC2016_0128.jpg"].manipulation == ["splice"]
    assert records["probe/NC2016_0674.jpg"].manipulation == ["removal"]
    assert records["probe/NC2016_1001.jpg"].manipulation == ["copy-move"]
    assert "label is unknown" in skips["probe/NC2016_1002.jpg"]
    assert "not found" in skips["probe/NC2016_9999.jpg"]


# -- VIPP -------------------------------------------------------------------------------------------------


def test_vipp_keeps_forgeries_without_a_mask(tmp_path):
    for p in (
        "Forgery/Forgery_salotto.jpg",
        "Forgery/Forgery_pranzo.jpg",
        "NonTamp/NonTamp_Sardegna_Franc_2007 021.jpg",
    ):
        write_image(tmp_path, p)
    write_mask(tmp_path, "masks/Forgery_salotto.png", "white_forged")
    records, counts, _ = build("vipp", tmp_path, unmasked={"Forgery/Forgery_pranzo.jpg"})
    assert counts == {"tampered": 2, "authentic": 1}
    assert records["Forgery/Forgery_salotto.jpg"].mask == "masks/Forgery_salotto.png"
    unmasked = records["Forgery/Forgery_pranzo.jpg"]
    assert (unmasked.label, unmasked.mask, unmasked.mask_format) == ("tampered", None, None)


def test_synthetic_is_described_without_a_mask():
    cand = DatasetAdapter().describe("x.png", None, "synthetic")
    assert (cand.label, cand.mask, cand.manipulation) == ("synthetic", None, ["full-synthetic"])
