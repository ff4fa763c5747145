"""The 'generated' synth kind: whole photos re-rendered by the upsampling-artefact simulator."""

import json

import cv2
import numpy as np
import pytest

from data_builders.synth import SynthConfig, SynthConfigError, generate, list_folder
from data_builders.synth.edits import Source
from data_builders.synth.generated import (
    generated,
    random_kernels,
    simulate,
    tent_kernel,
    transposed_upsample,
)
from data_builders.synth.scene import render_scene
from xforge.cli import main
from xforge.data.manifest import read_manifest
from xforge.forensics.spectral import spectral_cue

RAW = SynthConfig(kinds=("generated",), p_resize=0, p_blur=0, p_noise=0, p_jpeg=0)


def _scene(seed, size=(256, 192)):
    return render_scene(np.random.default_rng(seed), size)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("photos")
    for i in range(3):
        cv2.imwrite(str(d / f"p{i}.png"), _scene(i, (160, 128))[..., ::-1])
    return d


def test_records_are_synthetic_with_no_mask_and_their_settings(folder, tmp_path):
    cfg = RAW.replace(kinds=("generated", "authentic"), gen_upsampling=("nearest",), gen_factors=(4,))
    report = generate(list_folder(folder), tmp_path, 4, cfg, seed=3)
    assert report["by_kind"] == {"generated": 2, "authentic": 2}
    records = read_manifest(tmp_path / "manifest.jsonl")
    gen = [r for r in records if r.meta["kind"] == "generated"]
    assert len(gen) == 2 and not list((tmp_path / "masks").iterdir())
    for r in gen:
        assert r.label == "synthetic" and r.manipulation == ["full-synthetic"]
        assert r.mask is None and r.mask_format is None and "n_regions" not in r.meta
        assert r.meta["simulator"] == {"upsampling": "nearest", "factor": 4, "size": [160, 128]}
        image = cv2.imread(str(tmp_path / r.image))
        assert image.shape[:2] == (r.height, r.width) == (128, 160)
        # nearest 4x upsampling: every 4x4 block is one colour
        assert np.array_equal(image, np.repeat(np.repeat(image[::4, ::4], 4, 0), 4, 1))
    assert report["config"]["gen_upsampling"] == ["nearest"]


def test_same_seed_same_image_and_settings_honoured():
    host = Source("h.png", _scene(0))
    cfg = RAW.replace(gen_upsampling=("transposed",), gen_factors=(2,), gen_kernel_jitter=(0.05, 0.05))
    a = generated(host, np.random.default_rng([7, 1]), cfg)
    b = generated(host, np.random.default_rng([7, 1]), cfg)
    assert np.array_equal(a.image, b.image) and a.meta == b.meta
    assert a.label == "synthetic" and a.mask is None
    assert a.meta["simulator"]["kernel_jitter"] == 0.05 and a.meta["simulator"]["kernel_size"] == 4
    c = generated(host, np.random.default_rng([8, 1]), cfg)
    assert not np.array_equal(a.image, c.image)  # another seed, other random weights
    # crops to a multiple of the factor: 257 wide -> 256
    odd, _ = simulate(_scene(1, (257, 130)), np.random.default_rng(0), cfg.replace(gen_factors=(4,)))
    assert odd.shape == (128, 256, 3)


def test_transposed_convolution_with_the_tent_kernel_is_bilinear_and_jitter_keeps_the_mean():
    rng = np.random.default_rng(0)
    small = rng.uniform(0, 255, (20, 24, 3)).astype(np.float32)
    up = transposed_upsample(small, 2, [tent_kernel(2)] * 3)
    ref = cv2.resize(small, (48, 40), interpolation=cv2.INTER_LINEAR)
    # interior pixels (the border handling differs): the tent kernel is bilinear interpolation
    assert np.allclose(up[4:-4, 4:-4], ref[4:-4, 4:-4], atol=1e-3)
    for k in random_kernels(4, 0.1, rng):
        assert k.shape == (8, 8) and np.isclose(k.sum(), 16.0)


@pytest.mark.parametrize("upsampling", ["transposed", "nearest", "bilinear"])
def test_spectral_peaks_are_present(upsampling):
    """The simulator's images carry the periodic spectral peaks that the source scene does not."""
    cfg = RAW.replace(gen_upsampling=(upsampling,), gen_factors=(2,), gen_kernel_jitter=(0.05, 0.05))
    for seed in range(3):
        scene = _scene(seed, (384, 256))
        out, _ = simulate(scene, np.random.default_rng(seed), cfg)
        before, after = spectral_cue(scene), spectral_cue(out)
        assert before.cue < 1.5, before
        assert after.cue > 2.5 and after.period == 2, after


def test_bad_generated_settings_are_named():
    with pytest.raises(SynthConfigError, match="gen_upsampling"):
        SynthConfig(gen_upsampling=("bicubic",))
    with pytest.raises(SynthConfigError, match="gen_factors"):
        SynthConfig(gen_factors=(3,))
    with pytest.raises(SynthConfigError, match="gen_kernel_jitter"):
        SynthConfig(gen_kernel_jitter=(0.2, 0.1))


def test_cli_generated_kind_with_flags(folder, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["data", "synth", "--images", str(folder), "--out", str(out), "--n", "2", "--kinds", "generated"]
    argv += ["--gen-upsampling", "bilinear", "--p-jpeg", "1", "--jpeg-quality", "90,90"]
    argv += ["--p-resize", "0", "--p-blur", "0", "--p-noise", "0"]
    assert main([*argv, "--gen-factors", "2"]) == 0
    assert "generated 2" in capsys.readouterr().out
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert all(r["label"] == "synthetic" and r["mask"] is None for r in rows)
    assert all(r["meta"]["simulator"]["upsampling"] == "bilinear" for r in rows)
    assert all(r["meta"]["postprocess"] == [{"op": "jpeg", "quality": 90}] for r in rows)
    assert main([*argv, "--gen-factors", "3"]) == 2
    assert "gen_factors" in capsys.readouterr().err
