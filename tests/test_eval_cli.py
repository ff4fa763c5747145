"""`xforge eval` end to end: from a predictions folder, and with a (stand-in) model run through detect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_eval_runner import make_dataset, write_predictions

import xforge.cli.evaluate as cli_eval
from xforge.cli import main
from xforge.inference.backend import Backend, Reply
from xforge.inference.detector import Detector
from xforge.inference.result import AnalysisResult


def test_eval_from_predictions_folder(tmp_path, capsys):
    manifest, truth = make_dataset(tmp_path / "data")
    write_predictions(tmp_path / "pred", truth, "perfect")
    argv = ["eval", "--manifest", str(manifest), "--root", f"toy={tmp_path / 'data'}", "--predictions"]
    argv += [str(tmp_path / "pred"), "--out", str(tmp_path / "out"), "--metrics", "localization,detection"]
    assert main([*argv, "--json", "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert json.loads(printed[printed.index("{") :])["pixel_f1"] == 1.0
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["datasets"]["toy"]["image_auc"] == 1.0 and "css" not in saved["datasets"]["toy"]


def test_eval_argument_errors(tmp_path, capsys):
    manifest, _ = make_dataset(tmp_path / "data")
    base = ["eval", "--manifest", str(manifest), "--out", str(tmp_path / "out")]
    assert main(base) == 2
    assert "--predictions" in capsys.readouterr().err
    assert main([*base, "--predictions", str(tmp_path), "--perturb", "jpeg:70"]) == 2
    assert "needs --model" in capsys.readouterr().err
    assert main([*base, "--predictions", str(tmp_path), "--perturb", "sharpen:2"]) == 2
    assert main([*base, "--predictions", str(tmp_path / "nowhere")]) == 2
    assert "no predictions.jsonl" in capsys.readouterr().err


class BrightBackend(Backend):
    """Stand-in engine: marks bright pixels as edited (the toy data's forged blocks are bright)."""

    engine = "bright-test"

    def prepare(self, image, source_path=None):
        return image

    def respond(self, prepared, messages):
        prob = (prepared.mean(axis=2) > 200).astype(np.float32)
        edited = bool(prob.any())
        text = "The image was edited in the upper left." if edited else "No signs of editing were found."
        result = AnalysisResult(
            verdict="tampered" if edited else "authentic",
            score=float(prob.mean() * 20),
            prob_map=prob,
            explanation=text,
            engine=self.engine,
        )
        return Reply(result, text)


@pytest.mark.slow
def test_eval_with_model_runs_detect_and_perturbations(tmp_path, monkeypatch):
    manifest, truth = make_dataset(tmp_path / "data", n_tampered=2, n_authentic=2)
    for i, (y, m, _) in enumerate(truth.values()):  # paint the forged blocks bright
        if y:
            path = tmp_path / "data" / "images" / f"{i:03d}.png"
            img = cv2.imread(str(path)) // 2
            img[m > 0] = 255
            cv2.imwrite(str(path), img)
    monkeypatch.setattr(cli_eval, "_detector", lambda args: Detector(BrightBackend()))
    out = tmp_path / "out"
    argv = ["eval", "--model", "stand-in", "--manifest", str(manifest), "--root", f"toy={tmp_path / 'data'}"]
    argv += ["--out", str(out), "--metrics", "localization,detection,grounding", "--no-progress"]
    assert main([*argv, "--perturb", "jpeg:90", "resize:0.5"]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["datasets"]["toy"]["pixel_f1"] == 1.0
    assert set(doc["robustness"]) == {"jpeg90", "resize0.5"}
    assert 0.0 <= doc["robustness"]["resize0.5"]["average"]["pixel_f1"] <= 1.0
    assert (out / "predictions" / "predictions.jsonl").is_file()
    assert (out / "robustness" / "jpeg90" / "predictions" / "predictions.jsonl").is_file()
    md = (out / "metrics.md").read_text()
    assert "Robustness" in md and "| jpeg90 |" in md and "| clean |" in md


@pytest.mark.slow
def test_two_processes_with_accelerate_match_one(tmp_path):
    manifest, truth = make_dataset(tmp_path / "data", n_tampered=5, n_authentic=4)
    write_predictions(tmp_path / "pred", truth, "perfect")
    args = ["eval", "--manifest", str(manifest), "--root", f"toy={tmp_path / 'data'}", "--predictions"]
    args += [str(tmp_path / "pred"), "--metrics", "localization,detection", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"]
    launch += ["--num_machines", "1", "--main_process_port", "0", "--mixed_precision", "no"]
    launch += ["--dynamo_backend", "no", "-m", "xforge"]
    proc = subprocess.run(
        [*launch, *args, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert main([*args, "--out", str(tmp_path / "one")]) == 0
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    one = json.loads((tmp_path / "one" / "metrics.json").read_text())
    assert two["inputs"]["processes"] == 2
    assert two["datasets"] == one["datasets"]
    caches = sorted(p.name for p in (tmp_path / "two" / "cache").iterdir())
    assert caches == ["rows.rank0.jsonl", "rows.rank1.jsonl"]


@pytest.mark.slow
def test_eval_with_the_classical_engine(tmp_path):
    manifest, _ = make_dataset(tmp_path / "data", n_tampered=2, n_authentic=1)
    out = tmp_path / "out"
    argv = ["eval", "--model", "classical", "--manifest", str(manifest), "--root", f"toy={tmp_path / 'data'}"]
    assert (
        main([*argv, "--out", str(out), "--metrics", "detection,localization,grounding", "--no-progress"])
        == 0
    )
    table = json.loads((out / "metrics.json").read_text())["datasets"]["toy"]
    assert table["n_images"] == 3 and table["n_errors"] == 0 and table["n_localized"] == 2
    lines = (out / "predictions" / "predictions.jsonl").read_text().splitlines()
    assert {json.loads(line)["engine"] for line in lines} == {"classical"}
