"""Every dataset adapter on a small fake tree that mirrors its real layout, quirks included."""

from __future__ import annotations

import numpy as np
import pytest
from data_fakes import SOURCES, TRUTH, write, write_image, write_mask

from data_builders.adapters.base import DatasetRootError
from data_builders.registry import ADAPTERS, get_adapter
from xforge.data.masks import load_record_mask

T, A = "tampered", "authentic"


def build(key, root):
    result = get_adapter(key).build(root, workers=1)
    records = {(r.image, r.label, r.mask) for r in result.records}
    for r in result.records:
        assert r.dataset == key and r.id == f"{key}/{r.image}" and (r.width, r.height) == (8, 8)
        mask = load_record_mask(r, root)
        if r.label == T:
            expected = SOURCES if r.mask_format == "multi_source_gray" else TRUTH
            assert mask is not None and (mask == expected).all(), f"{key}: wrong mask for {r.image}"
            assert r.manipulation, r.image
        else:
            assert mask is None and r.mask is None
    return result, records


def skipped(result):
    return {s.path: s.reason for s in result.skips}


def test_every_key_of_the_issue_is_registered():
    assert set(ADAPTERS) - {"vipp", "openforensics", "safire_ms_auto"} == {
        "casia1", "casia2", "columbia", "coverage", "nist16", "imd2020", "dso1", "cocoglide", "tampcoco",
        "compraise", "fantastic_reality", "autosplice", "tgif", "safire_ms", "dolos", "miml", "korus",
        "comofod", "grip",
    }  # fmt: skip
    with pytest.raises(KeyError, match="unknown dataset 'casia3'"):
        get_adapter("casia3")


def test_casia1_with_corel_and_the_image_without_mask(tmp_path):
    sp = "CASIA 1.0 dataset/Modified Tp/Tp/Sp/Sp_D_NRN_A_sec0013_art0029_0547.jpg"
    cm = "CASIA 1.0 dataset/Modified Tp/Tp/CM/Sp_S_NNN_T_txt0017_txt0017_0017.jpg"
    orphan = "CASIA 1.0 dataset/Modified Tp/Tp/Sp/Sp_D_CRN_A_ani0049_ani0084_0266.jpg"
    for p in (
        sp,
        cm,
        orphan,
        "CASIA 1.0 dataset/Au/Au_ani_0001.jpg",
        "corel-1k/training_set/flowers/640.jpg",
    ):
        write_image(tmp_path, p)
    write_mask(tmp_path, "CASIA 1.0 groundtruth/Sp/Sp_D_NRN_A_sec0013_art0029_0547_gt.png", "white_forged")
    write_mask(tmp_path, "CASIA 1.0 groundtruth/CM/Sp_S_NNN_T_txt0017_txt0017_0017_gt.png", "white_forged")
    result, recs = build("casia1", tmp_path)
    assert recs == {
        (sp, T, "CASIA 1.0 groundtruth/Sp/Sp_D_NRN_A_sec0013_art0029_0547_gt.png"),
        (cm, T, "CASIA 1.0 groundtruth/CM/Sp_S_NNN_T_txt0017_txt0017_0017_gt.png"),
        ("CASIA 1.0 dataset/Au/Au_ani_0001.jpg", A, None),
        ("corel-1k/training_set/flowers/640.jpg", A, None),
    }
    by_image = {r.image: r for r in result.records}
    assert by_image[sp].manipulation == ["splice"] and by_image[cm].manipulation == ["copy-move"]
    assert by_image["corel-1k/training_set/flowers/640.jpg"].meta == {"source": "corel-1k"}
    assert by_image[sp].split == "test"
    assert "no ground-truth mask" in skipped(result)[orphan]


def test_casia2_gt3_rename_size_mismatch_and_jpeg_copies_ignored(tmp_path):
    tp = "CASIA 2.0/Tp/Tp_D_NNN_M_N_sec00064_nat00097_11260.jpg"
    tif = "CASIA 2.0/Tp/Tp_S_NNN_S_N_arc20086_arc20086_02415.tif"
    gt3 = "CASIA 2.0/Tp/Tp_D_NRD_S_N_cha10002_cha10001_20094.jpg"
    bad = "CASIA 2.0/Tp/Tp_D_NRN_S_N_sec00064_cha00052_11409.jpg"
    for p in (tp, tif, gt3, bad, "CASIA 2.0/Au/Au_ani_00001.jpg", "CASIA 2.0/Au/Au_ani_00002.bmp"):
        write_image(tmp_path, p)
    write_image(tmp_path, "CASIA 2.0/jpg/Tp_S_NNN_S_N_arc20086_arc20086_02415.jpg")  # CAT-Net's copy
    g = "CASIA 2 Groundtruth/"
    write_mask(tmp_path, g + "Tp_D_NNN_M_N_sec00064_nat00097_11260_gt.png", "white_forged")
    write_mask(tmp_path, g + "Tp_S_NNN_S_N_arc20086_arc20086_02415_gt.png", "white_forged")
    write_mask(tmp_path, g + "Tp_D_NRD_S_N_cha10002_cha10001_20094_gt3.png", "white_forged")
    write_mask(tmp_path, g + "Tp_D_NRN_S_N_sec00064_cha00052_11409_gt.png", "white_forged", size=(8, 6))
    result, recs = build("casia2", tmp_path)
    assert recs == {
        (tp, T, g + "Tp_D_NNN_M_N_sec00064_nat00097_11260_gt.png"),
        (tif, T, g + "Tp_S_NNN_S_N_arc20086_arc20086_02415_gt.png"),
        (gt3, T, g + "Tp_D_NRD_S_N_cha10002_cha10001_20094_gt3.png"),
        ("CASIA 2.0/Au/Au_ani_00001.jpg", A, None),
        ("CASIA 2.0/Au/Au_ani_00002.bmp", A, None),
    }
    reason = skipped(result)[g + "Tp_D_NRN_S_N_sec00064_cha00052_11409_gt.png"]
    assert "mask is 8x6 but its image is 8x8" in reason and bad in reason
    assert {r.split for r in result.records} == {"train"}


def test_columbia_edge_masks(tmp_path):
    for p in ("4cam_splc/canong3_canonxt_sub_01.tif", "4cam_auth/canong3_02_sub_01.tif"):
        write_image(tmp_path, p)
    write_mask(tmp_path, "4cam_splc/edgemask/canong3_canonxt_sub_01_edgemask.jpg", "columbia_edge")
    _, recs = build("columbia", tmp_path)
    assert recs == {
        ("4cam_splc/canong3_canonxt_sub_01.tif", T, "4cam_splc/edgemask/canong3_canonxt_sub_01_edgemask.jpg"),
        ("4cam_auth/canong3_02_sub_01.tif", A, None),
    }


def test_coverage_misaligned_masks_are_reported_or_resized_on_request(tmp_path):
    for p in ("image/1.tif", "image/1t.tif", "image/41t.tif"):
        write_image(tmp_path, p)
    write_mask(tmp_path, "mask/1forged.tif", "white_forged")
    write_mask(tmp_path, "mask/1copy.tif", "white_forged")
    write(tmp_path, "mask/41forged.tif", _scaled_mask(16))
    result, recs = build("coverage", tmp_path)
    assert recs == {("image/1.tif", A, None), ("image/1t.tif", T, "mask/1forged.tif")}
    reason = skipped(result)["mask/41forged.tif"]
    assert "mask is 16x16 but its image is 8x8" in reason and "IML-Dataset-Corrections" in reason
    resized = get_adapter("coverage").build(tmp_path, workers=1, resize_masks=True)
    by_image = {r.image: r for r in resized.records}
    assert by_image["image/41t.tif"].meta == {"mask_resize": "nearest", "mask_size": [16, 16]}
    assert (load_record_mask(by_image["image/41t.tif"], tmp_path) == TRUTH).all()


def _scaled_mask(n):
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.kron(TRUTH, np.ones((n // 8, n // 8), np.uint8)) * 255).save(buf, "TIFF")
    return buf.getvalue()


def test_imd2020_with_original(tmp_path):
    for p in ("1b8r7b/1b8r7b_orig.jpg", "1b8r7b/c94scmh_0.jpg", "1b8r7b/c94os8l_0.png"):
        write_image(tmp_path, p)
    write_mask(tmp_path, "1b8r7b/c94scmh_0_mask.png", "white_forged")
    write_mask(tmp_path, "1b8r7b/c94os8l_0_mask.png", "white_forged")
    result, recs = build("imd2020", tmp_path)
    assert recs == {
        ("1b8r7b/1b8r7b_orig.jpg", A, None),
        ("1b8r7b/c94scmh_0.jpg", T, "1b8r7b/c94scmh_0_mask.png"),
        ("1b8r7b/c94os8l_0.png", T, "1b8r7b/c94os8l_0_mask.png"),
    }
    assert {r.original for r in result.records if r.label == T} == {"1b8r7b/1b8r7b_orig.jpg"}


def test_dso1_inverted_masks_of_the_same_name(tmp_path):
    for p in ("DSO-1/splicing-01.png", "DSO-1/normal-01.png", "DSO-1-jpg/splicing-01.jpg"):
        write_image(tmp_path, p)
    write_mask(tmp_path, "DSO-1-Fake-Images-Masks/splicing-01.png", "black_forged")
    _, recs = build("dso1", tmp_path)
    assert recs == {
        ("DSO-1/splicing-01.png", T, "DSO-1-Fake-Images-Masks/splicing-01.png"),
        ("DSO-1/normal-01.png", A, None),
    }


def test_cocoglide_pairs_by_coco_id(tmp_path):
    write_image(tmp_path, "fake/glide_inpainting_val2017_114871_up.png")
    write_image(tmp_path, "real/dining table_114871.png")
    write_mask(tmp_path, "mask/dining table_114871_mask.png", "white_forged")
    _, recs = build("cocoglide", tmp_path)
    assert recs == {
        ("fake/glide_inpainting_val2017_114871_up.png", T, "mask/dining table_114871_mask.png"),
        ("real/dining table_114871.png", A, None),
    }


def test_tampcoco_mask_names_including_bcmc(tmp_path):
    sp = "sp_images/79_000000505269.jpg_000000562830.jpg.jpg"
    bcmc = "bcmc_images/96_000000346795_aligned_Q62.jpg_000000346795_aligned_Q62.jpg_RT35.6_RS0.95_aligned_Q62.jpg"
    write_image(tmp_path, sp)
    write_image(tmp_path, bcmc)
    write_image(tmp_path, "cm_images/72_000000435460.jpg_000000435460.jpg.jpg")  # mask missing
    write_mask(tmp_path, "sp_masks/79_000000505269.png_000000562830.png.png", "white_forged")
    write_mask(tmp_path, "bcm_masks/96_000000346795.png_000000346795.png_RT35.6_RS0.95.png", "white_forged")
    result, recs = build("tampcoco", tmp_path)
    assert recs == {
        (sp, T, "sp_masks/79_000000505269.png_000000562830.png.png"),
        (bcmc, T, "bcm_masks/96_000000346795.png_000000346795.png_RT35.6_RS0.95.png"),
    }
    assert {r.image: r.manipulation for r in result.records} == {sp: ["splice"], bcmc: ["copy-move"]}
    assert "missing" in skipped(result)["cm_images/72_000000435460.jpg_000000435460.jpg.jpg"]


def test_compraise_is_authentic_only(tmp_path):
    for p in ("r000da54ft_Q67.jpg", "r000da54ft_Q67_aligned_Q87.jpg"):
        write_image(tmp_path, p)
    _, recs = build("compraise", tmp_path)
    assert recs == {("r000da54ft_Q67.jpg", A, None), ("r000da54ft_Q67_aligned_Q87.jpg", A, None)}


def test_fantastic_reality_npz_masks(tmp_path):
    write_image(tmp_path, "dataset/ColorFakeImages/IMG_0007962_IMG_0007497.jpg")
    write_image(tmp_path, "dataset/ColorRealImages/IMG_0002289.jpg")
    write_mask(tmp_path, "dataset/SegmentationFake/IMG_0007962_IMG_0007497.npz", "npz")
    _, recs = build("fantastic_reality", tmp_path)
    assert recs == {
        ("dataset/ColorFakeImages/IMG_0007962_IMG_0007497.jpg", T,
         "dataset/SegmentationFake/IMG_0007962_IMG_0007497.npz"),
        ("dataset/ColorRealImages/IMG_0002289.jpg", A, None),
    }  # fmt: skip


@pytest.mark.parametrize(
    ("key", "files", "masks", "expected"),
    [
        ("miml", ["MIML_Part1/imgs/1.jpg"], {"MIML_Part1/masks/1.png": "white_forged"},
         {("MIML_Part1/imgs/1.jpg", T, "MIML_Part1/masks/1.png")}),
        ("korus", ["Canon_60D/tampered-realistic/r1.TIF", "Canon_60D/pristine/r1.TIF"],
         {"Canon_60D/ground-truth/r1.PNG": "white_forged"},
         {("Canon_60D/tampered-realistic/r1.TIF", T, "Canon_60D/ground-truth/r1.PNG"),
          ("Canon_60D/pristine/r1.TIF", A, None)}),
        ("comofod", ["001_F.png", "001_F_JC3.jpg", "001_O.png"], {"001_B.png": "white_forged", "001_M.png": "white_forged"},
         {("001_F.png", T, "001_B.png"), ("001_F_JC3.jpg", T, "001_B.png"), ("001_O.png", A, None)}),
        ("grip", ["images/IMG_C01_001.png", "forged_images/TP_C01_001_copy.png"],
         {"forged_images/TP_C01_001_gt.png": "white_forged"},
         {("forged_images/TP_C01_001_copy.png", T, "forged_images/TP_C01_001_gt.png"),
          ("images/IMG_C01_001.png", A, None)}),
    ],
)  # fmt: skip
def test_folder_datasets(tmp_path, key, files, masks, expected):
    # AutoSplice, TGIF, SafireMS, Dolos, VIPP, OpenForensics: trees from their published names in
    # test_data_release_layouts.py
    for p in files:
        write_image(tmp_path, p)
    for m, fmt in masks.items():
        write_mask(tmp_path, m, fmt)
    _, recs = build(key, tmp_path)
    assert recs == expected


def test_missing_root_and_empty_root(tmp_path):
    with pytest.raises(DatasetRootError, match="not a folder"):
        get_adapter("casia2").build(tmp_path / "nope")
    with pytest.raises(DatasetRootError, match="nothing of CASIA v2.0 found"):
        get_adapter("casia2").build(tmp_path)


def test_parallel_header_reading_gives_the_same_records(tmp_path, monkeypatch):
    import data_builders.probe as probe

    for i in range(40):
        write_image(tmp_path, f"r{i:04d}_Q90.jpg")
    write(tmp_path, "empty.jpg", b"")
    serial = get_adapter("compraise").build(tmp_path, workers=1)
    monkeypatch.setattr(probe, "PARALLEL_MIN_FILES", 1)
    monkeypatch.setattr(probe, "CHUNK", 7)
    parallel = get_adapter("compraise").build(tmp_path, workers=2)
    assert [r.to_dict() for r in parallel.records] == [r.to_dict() for r in serial.records]
    assert parallel.skips == serial.skips and len(serial.records) == 40
