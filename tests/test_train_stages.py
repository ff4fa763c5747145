"""End-to-end training on the tiny model and synthetic forgeries, on the CPU.

Every run is a subprocess, as a user starts it (``python train_stages/stageN.py`` or ``accelerate launch``),
with few steps and small images so the whole file stays within a few minutes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from train_stages.checkpoint import last_checkpoint, list_checkpoints, read_state
from train_stages.tiny import prepare_tiny_run

REPO = Path(__file__).resolve().parent.parent
CONFIGS = REPO / "train_stages" / "configs"
pytestmark = pytest.mark.slow


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false")
    return env


def _overrides(run, stage: int, out: Path, init_from: Path, steps: int, *extra: str) -> list[str]:
    data = run.data
    sets = [
        f"model.init_from={init_from}",
        f"data.train=[{{conversations: {data / f'stage{stage}_train.jsonl'}, root: {data}}}]",
        f"data.val=[{{conversations: {data / 'stage2_valid.jsonl'}, root: {data}}}]",
        f"run.output_dir={out}",
        f"optim.max_steps={steps}",
        "optim.warmup_steps=1",
        "run.log_every=1",
        f"run.eval_every={steps}",
        "run.trackers=[tensorboard]",
        *extra,
    ]
    return [arg for s in sets for arg in ("--set", s)]


def _train(stage: int, args: list[str], *, launcher: list[str] | None = None, timeout: int = 300):
    script = str(REPO / "train_stages" / f"stage{stage}.py")
    config = str(CONFIGS / f"stage{stage}_tiny_cpu.yaml")
    cmd = [*(launcher or [sys.executable]), script, "--config", config, *args]
    proc = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-6000:]
    return proc


def _metrics(out: Path) -> dict[int, dict]:
    """Training rows by step (a resumed run's rows replace the killed run's)."""
    rows = {}
    for line in (out / "metrics.jsonl").read_text().splitlines():
        row = json.loads(line)
        if "loss" in row:
            rows[row["step"]] = row
    return rows


def _val(out: Path) -> dict:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if "val_mask_iou" in x][
        -1
    ]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    return prepare_tiny_run(root, n_train=12, n_valid=4, n_heldout=4, image_size=64, pretrain_steps=2)


@pytest.fixture(scope="module")
def stage1(tiny, tmp_path_factory):
    out = tmp_path_factory.mktemp("stage1")
    _train(1, _overrides(tiny, 1, out, tiny.base, 2, "run.save_every=1"))
    return out


def test_stages_1_2_3_chain_and_final_checkpoint_answers_in_chat(tiny, stage1, tmp_path):
    from train_stages.data import ConversationDataset
    from xforge.model import XForgeModel, XForgeProcessor

    assert (stage1 / "final" / "xforge_heads.safetensors").is_file()
    assert (stage1 / "logs").is_dir()  # TensorBoard events
    assert [p.name for p in list_checkpoints(stage1 / "checkpoints")] == ["checkpoint-00000001"]
    assert "val_mask_iou" in _val(stage1) and "val_det_acc" in _val(stage1)

    # Stage 1 froze the LLM: its LoRA weights are still the initial (zero-effect) ones.
    base_adapter = load_file(tiny.base / "adapter" / "adapter_model.safetensors")
    s1_adapter = load_file(stage1 / "final" / "adapter" / "adapter_model.safetensors")
    lora_b = [k for k in base_adapter if "lora_B" in k]
    assert lora_b and all(torch.equal(base_adapter[k], s1_adapter[k]) for k in lora_b)

    s2 = tmp_path / "stage2"
    _train(2, _overrides(tiny, 2, s2, stage1 / "final", 2, "optim.grad_accum=1"))
    s2_adapter = load_file(s2 / "final" / "adapter" / "adapter_model.safetensors")
    assert any(not torch.equal(s1_adapter[k], s2_adapter[k]) for k in lora_b)  # stage 2 trains LoRA

    s3 = tmp_path / "stage3"
    _train(3, _overrides(tiny, 3, s3, s2 / "final", 2))
    # run.merge_lora: LoRA (trained in stages 2-3) folded into the backbone gives the same logits.
    processor = XForgeProcessor.from_pretrained(s3 / "final")
    batch = processor.collate([ConversationDataset(tiny.data / "stage2_valid.jsonl", tiny.data)[0]])
    with torch.no_grad():
        lora_out = XForgeModel.from_pretrained(s3 / "final")(**batch)
        merged_out = XForgeModel.from_pretrained(s3 / "merged")(**batch)
    torch.testing.assert_close(lora_out.logits, merged_out.logits, rtol=1e-4, atol=1e-4)
    assert (s3 / "merged" / "backbone" / "model.safetensors").is_file()

    image = next((tiny.data / "images").iterdir())
    proc = subprocess.run(
        [sys.executable, "-m", "xforge", "chat", "--model", str(s3 / "final"), "--json", "--max-new-tokens", "6",
         "--out", str(tmp_path / "chat"), str(image)],
        input="Is this image edited? Where?\n",
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    answer = json.loads(proc.stdout.splitlines()[0])
    assert answer["engine"] == "model" and 0.0 <= answer["score"] <= 1.0


def test_sigkill_after_checkpoint_then_resume_matches_uninterrupted_run(tiny, stage1, tmp_path):
    """With gradient accumulation (2 micro-batches per step), so the checkpoint's micro-batch count and the
    accumulation phase must both be restored."""
    steps, extra = 5, ("run.save_every=2", "optim.grad_accum=2")
    full = tmp_path / "full"
    _train(2, _overrides(tiny, 2, full, stage1 / "final", steps, *extra))

    killed = tmp_path / "killed"
    args = _overrides(tiny, 2, killed, stage1 / "final", steps, *extra)
    script = str(REPO / "train_stages" / "stage2.py")
    cmd = [sys.executable, script, "--config", str(CONFIGS / "stage2_tiny_cpu.yaml"), *args]
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while last_checkpoint(killed / "checkpoints") is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpt = last_checkpoint(killed / "checkpoints")
    assert ckpt is not None and not (killed / "final").exists()
    resumed_from = read_state(ckpt)["step"]
    assert resumed_from < steps

    resumed = _train(2, [*args, "--resume"])
    assert "was not restored" not in resumed.stderr  # every random state loaded
    a, b = _metrics(full), _metrics(killed)
    assert sorted(b) == list(range(1, steps + 1))
    for step in range(resumed_from + 1, steps + 1):
        assert b[step]["loss"] == pytest.approx(a[step]["loss"], rel=1e-5, abs=1e-6), step
        assert b[step]["lr"] == pytest.approx(a[step]["lr"])


def _launcher(tmp_path: Path, zero: str) -> list[str]:
    """``accelerate launch`` on 2 CPU processes with a copy of the shipped ZeRO config.

    ZeRO-3's copy partitions every parameter (``stage3_param_persistence_threshold: 0``): the tiny model's
    weights all fall under the shipped threshold, which would leave nothing to gather on save.
    """
    ds = json.loads((CONFIGS / "deepspeed" / f"{zero}.json").read_text())
    if ds["zero_optimization"]["stage"] == 3:
        ds["zero_optimization"]["stage3_param_persistence_threshold"] = 0
    ds_path = tmp_path / f"{zero}.json"
    ds_path.write_text(json.dumps(ds))
    acc = (CONFIGS / "accelerate" / f"cpu_deepspeed_{zero}.yaml").read_text()
    acc = acc.replace(f"train_stages/configs/deepspeed/{zero}.json", str(ds_path))
    acc_path = tmp_path / "accelerate.yaml"
    acc_path.write_text(acc)
    return [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(acc_path)]


def _one_rank_all_authentic_val_set(tiny, path: Path) -> Path:
    """Three validation conversations: samples 0-1 authentic, sample 2 tampered.

    Over 2 processes x batch 1, rank 0 gets samples 0 and 2 and rank 1 gets sample 1, then sample 0 again
    (repeated to even out the last round): no batch rank 1 sees has a ``<SEG>``.
    """
    from xforge.data.conversations import read_conversations, write_conversations

    records = read_conversations(tiny.data / "stage2_train.jsonl")
    authentic = [r for r in records if r.label == "authentic"][:2]
    tampered = [r for r in records if r.label == "tampered"][:1]
    assert len(authentic) == 2 and len(tampered) == 1
    write_conversations(path, authentic + tampered)
    return path


@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_stage2_under_accelerate_launch_with_deepspeed_two_processes(tiny, stage1, tmp_path, zero):
    """Two processes on this 2-core machine: rank/world size must be the real ones (one metrics row per
    step, one RNG state per rank in the checkpoint), and the saved model must load.

    Validation: ZeRO-3 gathers a module's weights collectively when it runs, so the rank whose batches
    hold no ``<SEG>`` must still run SAM2, the projector and the forensic stream, or the other rank waits
    forever; the repeated samples must not be scored; and the metrics must be those of one process
    scoring the same weights (validation runs at the last step, whose weights ``final`` holds).
    """
    from torch.utils.data import DataLoader

    from train_stages.data import ConversationDataset
    from train_stages.validate import validate
    from xforge.model import XForgeModel, XForgeProcessor

    out = tmp_path / zero
    val = _one_rank_all_authentic_val_set(tiny, tmp_path / "val.jsonl")
    args = _overrides(
        tiny, 2, out, stage1 / "final", 2, "run.save_every=1", "optim.grad_accum=1", "optim.batch_size=1",
        f"data.val=[{{conversations: {val}, root: {tiny.data}}}]",
    )  # fmt: skip
    _train(2, args, launcher=_launcher(tmp_path, zero), timeout=420)
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines() if '"loss"' in x]
    assert [r["step"] for r in lines] == [1, 2]  # written by rank 0 only
    ckpt = last_checkpoint(out / "checkpoints")
    assert read_state(ckpt)["world_size"] == 2
    assert sorted(p.name for p in ckpt.glob("random_states_*.pkl")) == [
        "random_states_0.pkl",
        "random_states_1.pkl",
    ]
    model = XForgeModel.from_pretrained(out / "final")
    heads = load_file(out / "final" / "xforge_heads.safetensors")
    s1 = load_file(stage1 / "final" / "xforge_heads.safetensors")
    # Saved weights are the full, trained tensors (ZeRO-3 gathers its shards before saving).
    assert all(heads[k].shape == s1[k].shape for k in s1)
    assert any(not torch.equal(heads[k], s1[k]) for k in s1 if k.startswith("projector."))
    assert model.num_trainable_parameters() == 0  # loads frozen, as from_pretrained documents

    sharded = {k[4:]: v for k, v in _val(out).items() if k.startswith("val_")}
    processor = XForgeProcessor.from_pretrained(out / "final")
    loader = DataLoader(ConversationDataset(val, tiny.data), batch_size=1, collate_fn=processor.collate)
    single = validate(None, model, loader)
    assert sharded["samples"] == single["samples"] == 3
    assert sharded == pytest.approx(single, rel=1e-4, abs=1e-5)
