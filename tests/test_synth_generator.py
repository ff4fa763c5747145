"""The synthetic forgery generator: exact masks, determinism, post-processing, bad input."""

import json

import cv2
import numpy as np
import pytest

from data_builders.synth import (
    SourceError,
    SourcePool,
    SynthConfig,
    SynthConfigError,
    copy_move,
    generate,
    list_folder,
    list_manifest,
    make_sample,
    multi_source,
    removal,
    splice,
)
from data_builders.synth.edits import Source
from data_builders.synth.scene import render_scene
from xforge.data.manifest import read_manifest, write_jsonl
from xforge.data.masks import decode_mask
from xforge.data.schema import SampleRecord

# No post-processing, so the edit's pixels are compared directly.
RAW = SynthConfig(p_resize=0, p_blur=0, p_noise=0, p_jpeg=0)


def _source(seed, name=None, size=(256, 192)):
    return Source(name or f"s{seed}.png", render_scene(np.random.default_rng(seed), size))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    for i in range(6):
        cv2.imwrite(str(d / f"p{i}.png"), render_scene(np.random.default_rng(i), (160, 128))[..., ::-1])
    return d


def _check_exact(host, forgery):
    mask = forgery.mask > 0
    assert mask.any()
    outside = ~mask
    assert np.array_equal(forgery.image[outside], host.image[outside]), "pixels outside the mask changed"
    changed = (forgery.image != host.image).any(axis=2)
    # Most of the marked region really differs from the host (blends may leave a few equal pixels).
    assert changed[mask].mean() > 0.5


@pytest.mark.parametrize("seed", range(4))
def test_splice_mask_is_exact(seed):
    rng = np.random.default_rng(seed)
    host, donor = _source(seed), _source(seed + 100)
    f = splice(host, donor, rng, RAW)
    _check_exact(host, f)
    assert f.manipulation == ["splice"] and f.mask_format == "white_forged"
    assert set(np.unique(f.mask)) == {0, 1}


@pytest.mark.parametrize("seed", range(4))
def test_copy_move_mask_is_exact_and_transform_recorded(seed):
    host = _source(seed)
    f = copy_move(host, np.random.default_rng(seed), RAW)
    _check_exact(host, f)
    meta = f.meta
    lo, hi = RAW.copy_move_rotation
    assert lo <= meta["rotation_deg"] <= hi
    lo, hi = RAW.copy_move_scale
    assert lo <= meta["scale"] <= hi
    # The recorded affine maps the source box's centre to the copy: the copy's pixels come from there.
    m = np.array(meta["matrix"])
    x0, y0, x1, y1 = meta["source_box"]
    centre = m @ np.array([(x0 + x1) / 2, (y0 + y1) / 2, 1.0])
    tx0, ty0, tx1, ty1 = meta["target_box"]
    assert tx0 - 2 <= centre[0] <= tx1 + 2 and ty0 - 2 <= centre[1] <= ty1 + 2
    # Source and copy do not overlap (copy_move_max_overlap = 0).
    src = np.zeros_like(f.mask)
    src[y0:y1, x0:x1] = 1
    assert (f.mask & src).sum() < 0.2 * f.mask.sum()


def test_copy_move_both_marks_the_source_too():
    host = _source(3)
    cfg = RAW.replace(copy_move_mask="both")
    f = copy_move(host, np.random.default_rng(3), cfg)
    x0, y0, x1, y1 = f.meta["source_box"]
    assert f.mask[y0:y1, x0:x1].any()
    outside = f.mask == 0
    assert np.array_equal(f.image[outside], host.image[outside])


@pytest.mark.parametrize("seed", range(3))
def test_removal_mask_is_exact(seed):
    host = _source(seed)
    f = removal(host, np.random.default_rng(seed), RAW)
    _check_exact(host, f)
    assert f.meta["inpaint_method"] == "telea"


def test_removal_of_an_object_covers_it():
    host = _source(1)
    obj = np.zeros(host.image.shape[:2], np.uint8)
    obj[50:90, 60:120] = 1
    host.objects.append(obj)
    f = removal(host, np.random.default_rng(0), RAW.replace(p_object=1.0))
    assert f.meta["region"] == "object"
    assert f.mask[50:90, 60:120].all()


def test_multi_source_labels_each_donor():
    host = _source(7)
    donors = [_source(20 + i) for i in range(3)]
    f = multi_source(host, donors, np.random.default_rng(0), RAW)
    assert f.mask_format == "multi_source_gray"
    assert set(np.unique(f.mask)) == {0, 1, 2, 3}
    assert [s["donor"] for s in f.meta["sources"]] == [d.name for d in donors]
    _check_exact(host, f)


def test_make_sample_is_deterministic(folder):
    entries = list_folder(folder)
    cfg = SynthConfig(kinds=("splice", "copy-move", "removal", "multi", "authentic"))
    for i in range(5):
        a = make_sample(i, SourcePool(entries, 0), cfg, seed=5)
        b = make_sample(i, SourcePool(entries, 0), cfg, seed=5)
        assert np.array_equal(a.processed.image, b.processed.image)
        if a.forgery is not None:
            assert np.array_equal(a.processed.mask, b.processed.mask)
    c = make_sample(0, SourcePool(entries, 0), cfg, seed=6)
    d = make_sample(0, SourcePool(entries, 0), cfg, seed=5)
    assert not np.array_equal(c.processed.image, d.processed.image) or c.host.name != d.host.name


def test_postprocess_follows_the_mask(folder):
    cfg = SynthConfig(
        kinds=("splice",), p_resize=1.0, resize_scale=(0.5, 0.5), p_jpeg=1.0, jpeg_quality=(70, 70)
    )
    s = make_sample(0, SourcePool(list_folder(folder), 0), cfg, seed=0)
    assert [op["op"] for op in s.processed.ops][0] == "resize" and s.processed.ops[-1] == {
        "op": "jpeg",
        "quality": 70,
    }
    assert s.processed.image.shape[:2] == s.processed.mask.shape == (64, 80)
    assert s.processed.jpeg_bytes[:2] == b"\xff\xd8"


def test_generate_writes_manifest_and_reproduces(folder, tmp_path):
    cfg = SynthConfig(kinds=("splice", "copy-move", "removal", "multi", "authentic"))
    entries = list_folder(folder)
    r1 = generate(entries, tmp_path / "a", 10, cfg, seed=3)
    generate(entries, tmp_path / "b", 10, cfg, seed=3)
    assert r1["written"] == 10 and r1["by_kind"] == {k: 2 for k in cfg.kinds}
    recs = read_manifest(tmp_path / "a" / "manifest.jsonl")
    for rec in recs:
        assert rec.dataset == "synth" and not rec.image.startswith("/")
        a = (tmp_path / "a" / rec.image).read_bytes()
        assert a == (tmp_path / "b" / rec.image).read_bytes()
        if rec.label == "authentic":
            assert rec.mask is None and rec.manipulation == []
            continue
        mask = decode_mask(tmp_path / "a" / rec.mask, rec.mask_format, expected_size=(rec.width, rec.height))
        assert mask.any()
        if rec.mask_format == "multi_source_gray":
            assert mask.max() == rec.meta["n_sources"] >= 2
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["seed"] == 3 and report["config"]["kinds"] == list(cfg.kinds)


def test_generate_with_workers_matches_single_process(folder, tmp_path):
    cfg = SynthConfig(kinds=("copy-move", "splice"))
    entries = list_folder(folder)
    generate(entries, tmp_path / "one", 4, cfg, seed=9)
    generate(entries, tmp_path / "two", 4, cfg, seed=9, workers=2)
    for f in sorted((tmp_path / "one" / "images").iterdir()):
        assert f.read_bytes() == (tmp_path / "two" / "images" / f.name).read_bytes()


def test_unreadable_sources_are_skipped_and_reported(folder, tmp_path):
    bad_dir = tmp_path / "mixed"
    bad_dir.mkdir()
    for f in folder.iterdir():
        (bad_dir / f.name).write_bytes(f.read_bytes())
    (bad_dir / "truncated.png").write_bytes((folder / "p0.png").read_bytes()[:200])
    (bad_dir / "notes.jpg").write_text("not an image")
    report = generate(list_folder(bad_dir), tmp_path / "out", 30, SynthConfig(), seed=0)
    assert report["written"] == 30
    skipped = {p["path"].rsplit("/", 1)[-1] for p in report["skipped_sources"]}
    assert skipped == {"truncated.png", "notes.jpg"}
    assert all(p["reason"] for p in report["skipped_sources"])


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no photos here")
    with pytest.raises(SourceError, match="no images found"):
        list_folder(tmp_path)
    with pytest.raises(SourceError, match="not a folder"):
        list_folder(tmp_path / "missing")


def test_all_unreadable_is_a_clear_error(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        (src / f"x{i}.jpg").write_bytes(b"\xff\xd8broken")
    with pytest.raises(SourceError, match="no sample could be generated"):
        generate(list_folder(src), tmp_path / "out", 2, SynthConfig(kinds=("copy-move",)), seed=0)


def test_splice_needs_two_sources(folder, tmp_path):
    with pytest.raises(SourceError, match="needs at least 2"):
        generate(list_folder(folder)[:1], tmp_path / "o", 1, SynthConfig(kinds=("splice",)))


def test_manifest_sources_use_object_masks(tmp_path):
    root = tmp_path / "coco"
    (root / "img").mkdir(parents=True)
    (root / "obj").mkdir()
    rows = []
    for i in range(3):
        cv2.imwrite(str(root / f"img/{i}.png"), render_scene(np.random.default_rng(i), (160, 128))[..., ::-1])
        m = np.zeros((128, 160), np.uint8)
        m[30:70, 40:100] = 255
        cv2.imwrite(str(root / f"obj/{i}.png"), m)
        rows.append(
            SampleRecord(
                id=f"c{i}",
                dataset="coco",
                split="train",
                image=f"img/{i}.png",
                label="authentic",
                mask=f"obj/{i}.png",
                mask_format="white_forged",
                meta={"object_label": "person"},
            )
        )
    rows.append(SampleRecord(id="t", dataset="coco", split="train", image="img/0.png", label="tampered"))
    write_jsonl(tmp_path / "m.jsonl", rows)
    entries = list_manifest(tmp_path / "m.jsonl", {"coco": root})
    assert len(entries) == 3 and all(len(e.object_masks) == 1 for e in entries)
    cfg = RAW.replace(kinds=("splice",), p_object=1.0, splice_rotation=(0.0, 0.0), splice_scale=(1.0, 1.0))
    s = make_sample(0, SourcePool(entries, 0), cfg, seed=0)
    assert s.forgery.meta["region"] == "object" and s.forgery.meta["object_label"] == "person"
    assert s.forgery.mask.sum() == 40 * 60


def test_config_rejects_bad_settings(tmp_path):
    with pytest.raises(SynthConfigError, match="kinds"):
        SynthConfig(kinds=("smudge",))
    with pytest.raises(SynthConfigError, match="p_jpeg"):
        SynthConfig(p_jpeg=1.5)
    with pytest.raises(SynthConfigError, match="jpeg_quality"):
        SynthConfig(jpeg_quality=(0, 120))
    with pytest.raises(SynthConfigError, match="copy_move_rotation"):
        SynthConfig(copy_move_rotation=(10.0, -10.0))
    p = tmp_path / "c.yaml"
    p.write_text("copy_move_rotation: [-5, 5]\nbogus: 1\n")
    with pytest.raises(SynthConfigError, match="bogus"):
        SynthConfig.from_yaml(p)
    p.write_text("copy_move_rotation: [-5, 5]\njpeg_quality: [80, 90]\n")
    cfg = SynthConfig.from_yaml(p)
    assert cfg.copy_move_rotation == (-5, 5) and cfg.jpeg_quality == (80, 90)


def test_shipped_configs_load():
    from pathlib import Path

    import data_builders.synth

    folder = Path(data_builders.synth.__file__).parent / "configs"
    configs = sorted(folder.glob("*.yaml"))
    assert configs
    for path in configs:
        SynthConfig.from_yaml(path)
