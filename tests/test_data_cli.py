"""`xforge data build | split | stats` end to end on a tiny tree, and their --help."""

from __future__ import annotations

import json

import pytest
from data_fakes import write_image, write_mask
from PIL import Image

from xforge.cli import main


@pytest.fixture
def casia2(tmp_path):
    root = tmp_path / "CASIA"
    for i in range(3):
        write_image(root, f"CASIA 2.0/Tp/Tp_D_NNN_M_N_sec0000{i}_nat0000{i}_1126{i}.jpg")
        write_mask(
            root, f"CASIA 2 Groundtruth/Tp_D_NNN_M_N_sec0000{i}_nat0000{i}_1126{i}_gt.png", "white_forged"
        )
        write_image(root, f"CASIA 2.0/Au/Au_ani_0000{i}.jpg")
    return root


def test_build_then_stats_with_coverage_plot(tmp_path, casia2, capsys):
    out = tmp_path / "casia2.jsonl"
    assert main(["data", "build", "casia2", "--root", str(casia2), "--out", str(out)]) == 0
    assert "wrote 6 records" in capsys.readouterr().out
    assert main(["data", "stats", str(out)]) == 0
    text = capsys.readouterr().out
    assert "6 records" in text and "authentic=3" in text and "tampered=3" in text and "splice=3" in text
    plot = tmp_path / "cov.png"
    assert main(["data", "stats", str(out), "--root", f"casia2={casia2}", "--plot", str(plot), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out.split("\ncoverage plot:")[0])
    assert stats["by_dataset_split_label"] == {"casia2/train/authentic": 3, "casia2/train/tampered": 3}
    cov = stats["coverage"]
    assert cov["masks"] == 3 and cov["unreadable"] == 0 and cov["mean"] == pytest.approx(16 / 64)
    assert sum(b["count"] for b in cov["histogram"]) == 3
    with Image.open(plot) as im:
        assert im.format == "PNG" and im.width > 100


def test_stats_reports_unreadable_masks(tmp_path, casia2, capsys):
    out = tmp_path / "casia2.jsonl"
    assert main(["data", "build", "casia2", "--root", str(casia2), "--out", str(out)]) == 0
    (casia2 / "CASIA 2 Groundtruth" / "Tp_D_NNN_M_N_sec00000_nat00000_11260_gt.png").write_bytes(b"")
    assert (
        main(["data", "stats", str(out), "--root", f"casia2={casia2}", "--plot", str(tmp_path / "p.png")])
        == 0
    )
    captured = capsys.readouterr()
    assert "mask coverage of 2 masks" in captured.out
    assert "empty file" in captured.err


def test_split_needs_a_known_protocol_and_a_root(tmp_path, capsys):
    assert (
        main(
            ["data", "split", "--protocol", "cat-net", "--root", f"casia2={tmp_path}", "--out", str(tmp_path)]
        )
        == 2
    )
    assert "unknown protocol 'cat-net'" in capsys.readouterr().err
    assert main(["data", "split", "--protocol", "catnet", "--root", "casia2", "--out", str(tmp_path)]) == 2
    assert "KEY=PATH" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["build", "split", "stats"])
def test_help_explains_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data", command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "example:" in text and f"xforge data {command}" in text
    if command == "build":
        assert "casia2" in text and "fantastic_reality" in text


def test_split_manifests_load_as_hf_datasets(tmp_path, casia2):
    from xforge.data.manifest import load_as_dataset

    out = tmp_path / "casia2.jsonl"
    assert main(["data", "build", "casia2", "--root", str(casia2), "--out", str(out)]) == 0
    ds = load_as_dataset(out)
    assert len(ds) == 6 and set(ds["label"]) == {"tampered", "authentic"}
    assert set(ds["width"]) == {8}
