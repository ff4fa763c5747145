"""The split protocols reproduce the reference lists in ../shared/reference/splits exactly.

For each protocol a fake tree holds the files the lists name (8x8 images, masks of the same size); the
manifests `xforge data split` writes must hold exactly the lists' (image, mask, split) triples. The
expectations are parsed here, independently of data_builders.splits, from the shared copy of the lists.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest
from data_fakes import mask_bytes, write, write_image

from xforge.cli import main

SHARED = Path(__file__).resolve().parents[2] / "shared" / "reference" / "splits"
PACKAGED = Path(__file__).resolve().parents[1] / "data_builders" / "splits" / "lists"
# CAT-Net's big lists (FR, compRAISE, CASIA v2 train: 75k files in all) are checked on every 20th line to
# keep the test fast; the other lines' files are absent and must be reported as skipped, not written.
BIG_LIST = 1500
THIN_EVERY = 20


@pytest.fixture(autouse=True)
def _reference_lists():
    """Without the ../shared checkout these tests skip on a laptop but fail under CI (``CI`` set)."""
    if SHARED.is_dir():
        return
    reason = f"reference split lists not found at {SHARED} (the ../shared checkout)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI must check the split protocols against them")
    pytest.skip(reason)


def lines(rel):
    return [ln.strip() for ln in (SHARED / rel).read_text().splitlines() if ln.strip()]


def csv_entries(rel, key, split, *, prefix="", mask_prefix="", fr=False, original_col=None, authentic=False):
    out = []
    for ln in lines(rel):
        f = ln.split(",")
        image = prefix + f[0]
        mask = None if authentic or len(f) < 2 or f[1] == "None" else mask_prefix + f[1]
        if fr and not authentic:
            mask = f"dataset/SegmentationFake/{f[0][:-4]}.npz"
        original = f[original_col] if original_col is not None else None
        out.append((key, image, mask, split, original))
    return out


def catnet_expected():
    """(entries written to the fake tree, entries left out): big lists are thinned, see BIG_LIST."""
    e = []
    absent = []

    def thin(entries):
        if len(entries) <= BIG_LIST:
            return entries
        absent.extend(x for i, x in enumerate(entries) if i % THIN_EVERY)
        return [x for i, x in enumerate(entries) if i % THIN_EVERY == 0]

    for split in ("train", "valid", "test"):
        e += thin(csv_entries(f"catnet/CASIA_v2_{split}_list.txt", "casia2", split))
        e += thin(csv_entries(f"catnet/CASIA_v2_auth_{split}_list.txt", "casia2", split, authentic=True))
    for split in ("train", "valid"):
        e += thin(csv_entries(f"catnet/IMD_{split}_list.txt", "imd2020", split, original_col=2))
        e += thin(csv_entries(f"catnet/FR_{split}_list.txt", "fantastic_reality", split,
                         prefix="dataset/ColorFakeImages/", fr=True))  # fmt: skip
        e += thin(csv_entries(f"catnet/FR_auth_{split}_list.txt", "fantastic_reality", split,
                         prefix="dataset/ColorRealImages/", authentic=True))  # fmt: skip
    e += thin(csv_entries("catnet/compRAISE_train.txt", "compraise", "train", authentic=True))
    e += thin(csv_entries("catnet/compRAISE_valid.txt", "compraise", "valid", authentic=True))
    for sub in ("sp", "cm", "bcm"):
        e += thin(csv_entries(f"catnet/{sub}_COCO_valid_list.txt", "tampcoco", "valid"))
        e += thin(csv_entries(f"catnet/{sub}_COCO_test_list.txt", "tampcoco", "test"))
    e += thin(csv_entries("catnet/bcmc_COCO_valid_list.txt", "tampcoco", "valid"))
    for key, tamp, auth in [
        ("coverage", "COVERAGE_tamp", "COVERAGE_auth"),
        ("columbia", "Columbia_list", "Columbia_auth_list"),
        ("dso1", "Carvalho_DSO-1_spliced_list", "Carvalho_DSO-1_normal_list"),
        ("comofod", "CoMoFoD_tamp", "CoMoFoD_auth"),
        ("grip", "GRIP_tamp", "GRIP_auth"),
    ]:
        e += thin(csv_entries(f"catnet/{tamp}.txt", key, "test"))
        e += thin(csv_entries(f"catnet/{auth}.txt", key, "test", authentic=True))
    e += thin(csv_entries("catnet/NC16_splice.txt", "nist16", "test", original_col=2))
    # tampCOCO train lists are rebuilt from the folders: images no valid/test list names.
    e += [
        ("tampcoco", "sp_images/1_000000000001.jpg_000000000002.jpg.jpg",
         "sp_masks/1_000000000001.png_000000000002.png.png", "train", None),
        ("tampcoco", "bcmc_images/2_000000000003_aligned_Q80.jpg_000000000003_aligned_Q80.jpg_aligned_Q80.jpg",
         "bcm_masks/2_000000000003.png_000000000003.png.png", "train", None),
    ]  # fmt: skip
    return e, absent


def mvss_expected():
    e = []
    for rel, key, split in [
        ("mvss/CASIAv2.txt", "casia2", "train"),
        ("mvss/CASIAv1.txt", "casia1", "test"),
        ("mvss/CASIAv1plus.txt", "casia1", "test"),
        ("mvss/Columbia.txt", "columbia", "test"),
        ("mvss/COVERAGE.txt", "coverage", "test"),
        ("mvss/NIST16.txt", "nist16", "test"),
    ]:
        for ln in lines(rel):
            image, mask, label = ln.split()
            if rel == "mvss/CASIAv1.txt" and label == "0":
                continue  # CASIA v1+: Corel authentic images replace CASIA's own
            e.append((key, image[2:], None if mask == "None" else mask[2:], split, None))
    return e


def trufor_expected():
    e = []
    for key, stem, prefix, mask_prefix in [
        ("casia1", "CASIA1corel", "", ""),
        ("columbia", "columbia", "", ""),
        ("coverage", "coverage", "", ""),
        ("nist16", "NIST16", "", ""),
        ("dso1", "DSO-1", "DSO-1/", "DSO-1-Fake-Images-Masks/"),
        ("cocoglide", "CocoGlide", "", ""),
        ("vipp", "VIPP", "", ""),
    ]:
        e += csv_entries(f"trufor_test/{stem}_fake.txt", key, "test", prefix=prefix, mask_prefix=mask_prefix)
        e += csv_entries(f"trufor_test/{stem}_real.txt", key, "test", prefix=prefix, authentic=True)
    e += csv_entries("trufor_test/OpenForensics_fake.txt", "openforensics", "test")
    return e


def make_tree(base: Path, entries, *, shared_root: bool) -> dict[str, Path]:
    roots = {}
    done = set()
    for key, image, mask, _, original in entries:
        root = roots.setdefault(key, base if shared_root else base / key)
        for rel, is_mask in ((image, False), (mask, True), (original, False)):
            if rel is None or (root, rel) in done:
                continue
            done.add((root, rel))
            if rel.endswith(".npz"):
                write(root, rel, mask_bytes("npz"))
            elif is_mask:
                write(root, rel, mask_bytes("white_forged", os.path.splitext(rel)[1].lower()))
            else:
                write_image(root, rel)
    return roots


def run_split(tmp_path, protocol, entries, *, shared_root=False, extra_args=()):
    roots = make_tree(tmp_path / "data", entries, shared_root=shared_root)
    args = ["data", "split", "--protocol", protocol, "--out", str(tmp_path / "out"), *extra_args]
    if shared_root:
        args += ["--root", f"*={tmp_path / 'data'}"]
    else:
        for key, root in roots.items():
            args += ["--root", f"{key}={root}"]
    assert main(args) == 0
    got = []
    for split_file in sorted(
        p for p in (tmp_path / "out").glob("*.jsonl") if p.stem in ("train", "valid", "test")
    ):
        for ln in split_file.read_text().splitlines():
            r = json.loads(ln)
            assert r["split"] == split_file.stem
            got.append(r)
    return got


def triples(entries):
    return {(k, i, m, s) for k, i, m, s, _ in entries}


def assert_same(got, expected):
    got_set = {(r["dataset"], r["image"], r["mask"], r["split"]) for r in got}
    want = triples(expected)
    assert len(got) == len(got_set), "a sample was written twice"
    missing, extra = want - got_set, got_set - want
    assert not missing and not extra, f"missing {sorted(missing)[:5]}..., extra {sorted(extra)[:5]}..."


def test_packaged_lists_are_verbatim_copies():
    shared = {p.relative_to(SHARED) for p in SHARED.rglob("*.txt")}
    packaged = {p.relative_to(PACKAGED) for p in PACKAGED.rglob("*.txt")}
    assert shared == packaged
    for rel in shared:
        assert (SHARED / rel).read_bytes() == (PACKAGED / rel).read_bytes(), rel


@pytest.mark.slow
def test_catnet_protocol_reproduces_the_lists(tmp_path):
    expected, absent = catnet_expected()
    got = run_split(tmp_path, "catnet", expected)
    assert_same(got, expected)
    skipped = {json.loads(ln)["path"] for ln in (tmp_path / "out" / "skipped.jsonl").read_text().splitlines()}
    assert {image for _, image, _, _, _ in absent} <= skipped
    counts = defaultdict(int)
    for r in got:
        counts[(r["dataset"], r["split"], r["label"])] += 1
    assert counts[("casia2", "test", "tampered")] == 300 and counts[("casia2", "valid", "authentic")] == 100
    assert counts[("fantastic_reality", "valid", "tampered")] == 100
    assert (
        counts[("compraise", "valid", "authentic")] == 75 and counts[("imd2020", "valid", "tampered")] == 141
    )
    assert counts[("tampcoco", "train", "tampered")] == 2
    assert counts[("nist16", "test", "tampered")] == 292  # four probes come with two masks each
    by_image = {(r["dataset"], r["image"], r["mask"]): r for r in got}
    imd = by_image[("imd2020", "1b8r7b/c94scmh_0.jpg", "1b8r7b/c94scmh_0_mask.png")]
    assert imd["original"] == "1b8r7b/1b8r7b_orig.jpg" and imd["meta"]["list"] == "catnet/IMD_train_list.txt"
    assert {r["mask_format"] for r in got if r["dataset"] == "dso1" and r["mask"]} == {"black_forged"}
    assert {r["mask_format"] for r in got if r["dataset"] == "fantastic_reality" and r["mask"]} == {"npz"}


@pytest.mark.slow
def test_mvss_protocol_reproduces_the_lists(tmp_path):
    expected = mvss_expected()
    imd = [("imd2020", "1b8r7b/c94scmh_0.jpg", "1b8r7b/c94scmh_0_mask.png", "test", None),
           ("imd2020", "1b8r7b/1b8r7b_orig.jpg", None, "test", None)]  # fmt: skip
    make_tree(tmp_path / "imd", imd, shared_root=True)
    got = run_split(
        tmp_path, "mvss", expected, shared_root=True, extra_args=["--root", f"imd2020={tmp_path / 'imd'}"]
    )
    assert_same(got, expected + imd)  # IMD2020 has no MVSS list: the whole dataset is its test set
    assert (tmp_path / "out" / "skipped.jsonl").read_text() == ""
    # CASIAv1plus.txt: 782 Corel + 18 CASIA authentic images; its labels 1 and 2 are both tampered
    assert sum(r["dataset"] == "casia1" and r["label"] == "authentic" for r in got) == 800
    assert sum(r["meta"].get("source") == "corel-1k" for r in got) == 782
    assert {r["mask_format"] for r in got if r["dataset"] == "columbia" and r["mask"]} == {"columbia_edge"}


@pytest.mark.slow
def test_trufor_test_protocol_reproduces_the_lists(tmp_path):
    expected = trufor_expected()
    got = run_split(tmp_path, "trufor-test", expected)
    assert_same(got, expected)
    assert (tmp_path / "out" / "skipped.jsonl").read_text() == ""
    assert {r["split"] for r in got} == {"test"}


def test_missing_files_and_roots_are_reported(tmp_path, capsys):
    expected = [e for e in trufor_expected() if e[0] == "dso1"]
    roots = make_tree(tmp_path / "data", expected, shared_root=False)
    (roots["dso1"] / "DSO-1" / "splicing-99.png").unlink()
    out = tmp_path / "out"
    assert (
        main(
            [
                "data",
                "split",
                "--protocol",
                "trufor-test",
                "--root",
                f"dso1={roots['dso1']}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    got = [json.loads(ln) for ln in (out / "test.jsonl").read_text().splitlines()]
    assert len(got) == 199
    report = capsys.readouterr()
    text = report.out + report.err
    assert "DSO-1/splicing-99.png" in text and "no such file" in text
    assert "no --root coverage=PATH" in text
    skips = [json.loads(ln) for ln in (out / "skipped.jsonl").read_text().splitlines()]
    assert {"dataset": "dso1", "path": "DSO-1/splicing-99.png", "reason": "no such file"} in skips
