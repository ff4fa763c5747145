"""Training config (YAML + --set overrides) and atomic checkpoint bookkeeping; no model needed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train_stages import checkpoint as ckpt
from train_stages.config import ConfigError, load_config
from train_stages.data import ConversationDataset, SeededShuffleSampler, seg_masks
from xforge.data.conversations import assistant_message, user_message, write_conversations

CONFIGS = Path(__file__).resolve().parent.parent / "train_stages" / "configs"


def _write_yaml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


MINIMAL = """
stage: 2
model: {init_from: some/ckpt, trainable: [projector, lora], loss_weights: {score: 0.5}}
data: {train: [{conversations: c.jsonl, root: data}]}
optim: {lr: 1.0e-4, max_steps: 10}
"""


def test_overrides_parse_yaml_scalars_lists_and_indices(tmp_path):
    cfg = load_config(
        _write_yaml(tmp_path / "c.yaml", MINIMAL),
        [
            "optim.lr=3e-4",
            "optim.max_steps=7",
            "run.trackers=[]",
            "data.train.0.root=/x",
            "model.loss.score_pos_weight=0.25",
        ],
    )
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.optim.max_steps == 7
    assert cfg.run.trackers == []
    assert cfg.data.train[0].root == "/x"
    assert cfg.model.loss.score_pos_weight == 0.25 and cfg.model.loss_weights.score == 0.5


def test_unknown_keys_and_bad_values_are_errors(tmp_path):
    path = _write_yaml(tmp_path / "c.yaml", MINIMAL)
    with pytest.raises(ConfigError, match="unknown keys"):
        load_config(path, ["optim.learning_rate=1"])
    with pytest.raises(ConfigError, match="expected int"):
        load_config(path, ["optim.max_steps=many"])
    with pytest.raises(ConfigError, match="unknown modules"):
        load_config(path, ["model.trainable=[projector, everything]"])
    with pytest.raises(ConfigError, match="architecture"):
        load_config(path, ["model.build.lora.r=2"])
    with pytest.raises(ConfigError, match="unknown keys"):
        load_config(path, ["model.loss_weights.colour=1"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("stage*.yaml")), ids=lambda p: p.name)
def test_shipped_stage_configs_load(path):
    cfg = load_config(path)
    assert cfg.stage == int(path.name[len("stage")])


class _FakeAccelerator:
    """The two collective calls save_checkpoint makes, for one process."""

    is_main_process = True

    def wait_for_everyone(self):
        pass

    def save_state(self, directory):
        (Path(directory) / "model.safetensors").write_bytes(b"weights")


def test_checkpoint_is_atomic_and_pruned(tmp_path):
    acc = _FakeAccelerator()
    for step in (2, 4, 6):
        ckpt.save_checkpoint(acc, tmp_path, step, {"step": step})
    ckpt.prune_checkpoints(tmp_path, keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["checkpoint-00000004", "checkpoint-00000006"]
    # A crash mid-write leaves a temp folder and maybe a folder without trainer state: neither is resumable.
    (tmp_path / ".tmp-checkpoint-00000008").mkdir()
    (tmp_path / "checkpoint-00000010").mkdir()
    assert ckpt.last_checkpoint(tmp_path).name == "checkpoint-00000006"
    assert ckpt.read_state(ckpt.last_checkpoint(tmp_path)) == {"step": 6}
    # Re-saving a step (after a resume) replaces it.
    ckpt.save_checkpoint(acc, tmp_path, 6, {"step": 6, "again": True})
    assert ckpt.read_state(tmp_path / "checkpoint-00000006")["again"] is True


def test_seeded_sampler_depends_only_on_seed_and_epoch():
    a, b = SeededShuffleSampler(50, seed=3), SeededShuffleSampler(50, seed=3)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert sorted(a) == list(range(50)) and list(a) != list(b)


def test_balanced_sampler_draws_per_dataset(tmp_path):
    from torch.utils.data import ConcatDataset

    from train_stages.data import build_sampler

    class Part:
        def __init__(self, names):
            self.datasets = names

        def __len__(self):
            return len(self.datasets)

    data = ConcatDataset([Part(["a"] * 10), Part(["b"] * 3)])
    sampler = build_sampler("balanced", data, seed=0, per_dataset=4)
    drawn = list(sampler)
    assert len(drawn) == 8 and sum(i < 10 for i in drawn) == 4 and drawn == list(sampler)


def _conversation(i: int, *, mask: bool) -> dict:
    answer = "Yes, edited in the centre <SEG>." if mask else "No, it looks authentic."
    return {
        "sample_id": f"t/{i}",
        "stage": 2,
        "dataset": "t",
        "split": "train",
        "image": f"images/{i}.png",
        "mask": f"masks/{i}.png" if mask else None,
        "mask_format": "white_forged" if mask else None,
        "label": "tampered" if mask else "authentic",
        "messages": [user_message("Edited?", with_image=True), assistant_message(answer)],
        "seg_targets": ["all"] if mask else [],
    }


def test_dataset_reads_examples_and_skips_bad_files(tmp_path, caplog):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(tmp_path / f"images/{i}.png")
        m = np.zeros((24, 32), np.uint8)
        m[5:10, 5:12] = 255
        Image.fromarray(m).save(tmp_path / f"masks/{i}.png")
    (tmp_path / "images/1.png").write_bytes(b"not a png")  # corrupt: replaced by the next readable record
    rows = [_conversation(0, mask=True), _conversation(1, mask=True), _conversation(2, mask=False)]
    write_conversations(tmp_path / "c.jsonl", rows)
    ds = ConversationDataset(tmp_path / "c.jsonl", tmp_path)
    ex = ds[0]
    assert ex["image"].shape == (24, 32, 3) and ex["label"] == "tampered"
    assert len(ex["masks"]) == 1 and ex["masks"][0].sum() == 35 and ex["masks"][0].max() == 1
    ex1 = ds[1]
    assert ex1["label"] == "authentic" and ex1["masks"] == []
    assert "t/1" in ds.bad and os.fspath(tmp_path / "images/1.png") in ds.bad["t/1"]
    assert "t/1" in caplog.text


def test_seg_masks_select_sources():
    mask = np.array([[0, 1, 2], [2, 2, 0]], np.uint8)
    all_, two = seg_masks(mask, ["all", 2])
    assert all_.tolist() == [[0, 1, 1], [1, 1, 0]] and two.tolist() == [[0, 0, 1], [1, 1, 0]]


def test_world_size_disagreement_fails_loudly(monkeypatch):
    """What accelerate did for DeepSpeed on a CPU-only machine before the gloo fix: every rank "main"."""
    from accelerate.utils import DistributedType

    from train_stages.loop import DistributedSetupError, check_world

    class OneProcessView:
        process_index, num_processes, distributed_type = 0, 1, DistributedType.DEEPSPEED

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    with pytest.raises(DistributedSetupError, match="disagree"):
        check_world(OneProcessView())
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("RANK", "0")
    check_world(OneProcessView())


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("stage1_*.yaml")), ids=lambda p: p.name)
def test_stage1_freezes_the_score_head(path):
    """Stage 1's conversations are tampered images only: a score head trained on them learns a constant."""
    from train_stages import stage1

    cfg = load_config(path)
    stage1.check(cfg)  # the shipped stage-1 configs leave it frozen
    cfg.model.trainable.append("score_head")
    with pytest.raises(ConfigError, match="score head"):
        stage1.check(cfg)


def _crash_when_renamed_in(monkeypatch, target_name: str) -> None:
    """Simulate a crash between the steps of a replacement: renaming the new folder in fails."""
    real = os.replace

    def replace(src, dst):
        if Path(dst).name == target_name and Path(src).name.startswith(".tmp-"):
            raise OSError("simulated crash")
        return real(src, dst)

    monkeypatch.setattr(os, "replace", replace)


def test_interrupted_checkpoint_replacement_leaves_a_loadable_checkpoint(tmp_path, monkeypatch):
    acc = _FakeAccelerator()
    ckpt.save_checkpoint(acc, tmp_path, 6, {"step": 6})
    _crash_when_renamed_in(monkeypatch, "checkpoint-00000006")
    with pytest.raises(OSError, match="simulated"):
        ckpt.save_checkpoint(acc, tmp_path, 6, {"step": 6, "again": True})
    monkeypatch.undo()
    found = ckpt.last_checkpoint(tmp_path)
    assert found is not None and ckpt.read_state(found) == {"step": 6}
    assert (found / "model.safetensors").read_bytes() == b"weights"
    # The next save of that step puts a complete folder back under its own name and clears the aside one.
    ckpt.save_checkpoint(acc, tmp_path, 6, {"step": 6, "again": True})
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint-00000006"]
    assert ckpt.read_state(ckpt.last_checkpoint(tmp_path))["again"] is True


def test_interrupted_final_replacement_keeps_the_previous_model(tmp_path, monkeypatch):
    from accelerate.utils import DistributedType

    from train_stages.loop import save_final

    class Acc(_FakeAccelerator):
        distributed_type = DistributedType.NO

        def unwrap_model(self, model):
            return model

    class Saved:
        def __init__(self, text):
            self.text = text

        def save_pretrained(self, directory):
            Path(directory).mkdir(parents=True, exist_ok=True)
            (Path(directory) / f"{type(self).__name__}.txt").write_text(self.text)

    target = tmp_path / "final"
    save_final(Acc(), Saved("old"), Saved("old"), target)
    _crash_when_renamed_in(monkeypatch, "final")
    with pytest.raises(OSError, match="simulated"):
        save_final(Acc(), Saved("new"), Saved("new"), target)
    monkeypatch.undo()
    previous = [p / "Saved.txt" for p in (target, tmp_path / ".old-final") if (p / "Saved.txt").is_file()]
    assert [p.read_text() for p in previous] == ["old"]  # the previous model survives, complete
    ckpt.restore_aside(target)  # what the next run of the stage does first
    assert (target / "Saved.txt").read_text() == "old"
    save_final(Acc(), Saved("new"), Saved("new"), target)
    assert (target / "Saved.txt").read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == [
        "final"
    ]
