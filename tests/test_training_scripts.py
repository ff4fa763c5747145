"""scripts/gpu_smoke.py (tiny size, on the CPU) and scripts/estimate_memory.py's accounting."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_gpu_smoke_runs_at_tiny_size_on_the_cpu(tmp_path):
    """The real-size GPU command's path end to end: both launch modes, validation, saving, generation."""
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_smoke.py"), "--size", "tiny", "--steps", "2",
         "--workdir", str(tmp_path), "--keep"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    figures = dict(pair.split("=") for pair in proc.stdout.strip().splitlines()[-1].split())
    for name in ("train_samples_per_s", "peak_gb", "zero2_train_samples_per_s", "zero2_peak_gb"):
        assert float(figures[name]) > 0, name
    assert float(figures["generate_s"]) > 0 and float(figures["mask_s"]) > 0
    assert (tmp_path / "zero2" / "final" / "xforge_heads.safetensors").is_file()


def test_memory_accounting_follows_the_shipped_launch_configs():
    estimate = _script("estimate_memory")
    launches = {
        p.stem: estimate.read_launch(p) for p in (REPO / "train_stages/configs/accelerate").glob("*.yaml")
    }
    single, ddp = launches["single_gpu"], launches["multi_gpu"]
    zero2, zero3, zero3_off = (
        launches["deepspeed_zero2"],
        launches["deepspeed_zero3"],
        launches["deepspeed_zero3_offload"],
    )
    assert (single.ranks, single.zero, ddp.ranks, ddp.ddp) == (1, None, 8, True)
    assert (zero2.zero, zero3.zero, zero3_off.offload_optimizer, zero3_off.offload_params) == (
        2,
        3,
        True,
        True,
    )

    frozen, trainable, largest = 1000, 100, 10
    plain = estimate.model_state_bytes(frozen, trainable, single, largest)
    # bf16 frozen weights; float32 trainable weights, gradients and Adam moments.
    assert plain == {"weights": 2 * 1000 + 4 * 100, "grads": 400, "optimizer": 800, "buffers": 0}
    z2 = estimate.model_state_bytes(frozen, trainable, zero2, largest)
    assert z2["weights"] == 2 * 1100 and z2["grads"] == 200 / 8 and z2["optimizer"] == 12 * 100 / 8
    z3 = estimate.model_state_bytes(frozen, trainable, zero3, largest)
    assert z3["weights"] == 2 * 1100 / 8 and z3["buffers"] > z2["buffers"] - 2 * zero2.buffer_elements
    off = estimate.model_state_bytes(frozen, trainable, zero3_off, largest)
    assert off["weights"] == 0 and off["optimizer"] == 0
