"""The training loop: loss, batch order, exact resume, DDP replicas, records."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from alto.config import load_config, merge_configs
from alto.data.demo import DemoResult
from alto.models import load_checkpoint
from alto.train import Trainer, occupancy_loss, train
from alto.train.sampler import EpochBatchSampler

TINY_MODEL = {
    "encoder": "pointnet_local_pool",
    "encoder_kwargs": {
        "hidden_dim": 16,
        "plane_type": ["xz", "xy", "yz"],
        "plane_resolution": 8,
        "unet": True,
        "unet_kwargs": {"depth": 2, "merge_mode": "concat", "start_filts": 8},
    },
    "decoder": "simple_local_attention_sub",
    "decoder_kwargs": {"sample_mode": "bilinear", "hidden_size": 16, "plane_type": ["xz", "xy", "yz"]},
    "c_dim": 8,
}


def tiny_config(tmp_path: Path, demo: DemoResult, **training: Any) -> Path:
    """A complete experiment file: a tiny ALTO triplane on the tiny demo objects."""
    cfg = {
        "seed": 5,
        "data": {"path": str(demo.objects_root), "pointcloud_n": 200, "pointcloud_noise": 0.005,
                 "points_subsample": 128},
        "model": TINY_MODEL,
        "training": merge_configs(
            {"out_dir": str(tmp_path / "run"), "batch_size": 2, "max_iters": 4, "print_every": 1,
             "validate_every": 2, "checkpoint_every": 2, "backup_every": 1000, "n_workers": 0,
             "n_workers_val": 0, "val_max_objects": 2, "lr": 1e-3, "lr_schedule": "cosine",
             "lr_cosine_epochs": 3},
            training,
        ),
        "test": {"threshold": 0.2},
    }
    path = tmp_path / "tiny.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg))
    return path


def weights(run: Path, name: str = "model.pt") -> dict[str, torch.Tensor]:
    return load_checkpoint(run / name)["model"].state_dict()


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


def test_loss_is_bce_summed_over_points_and_averaged_over_the_batch() -> None:
    logits = torch.tensor([[0.0, 2.0, -1.0], [1.0, 1.0, 1.0]])
    occupancies = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    p = torch.sigmoid(logits)
    by_hand = -(occupancies * p.log() + (1 - occupancies) * (1 - p).log()).sum(1).mean()
    assert occupancy_loss(logits, occupancies).item() == pytest.approx(by_hand.item(), rel=1e-6)


def test_batches_are_deterministic_resumable_and_shared_between_ranks() -> None:
    epoch = list(EpochBatchSampler(10, 4, seed=3, epoch=2))
    assert epoch == list(EpochBatchSampler(10, 4, seed=3, epoch=2))
    assert epoch != list(EpochBatchSampler(10, 4, seed=3, epoch=1))
    assert sorted(i for batch in epoch for i in batch) == list(range(10))  # every sample once
    assert [len(b) for b in epoch] == [4, 4, 2]
    assert list(EpochBatchSampler(10, 4, seed=3, epoch=2, start=1)) == epoch[1:]
    ranks = [list(EpochBatchSampler(10, 4, seed=3, epoch=2, rank=r, world_size=2)) for r in (0, 1)]
    assert len(ranks[0]) == len(ranks[1]) == 3  # the last batch of 2 still gives each rank one
    for step, batch in enumerate(epoch):
        assert sorted(ranks[0][step] + ranks[1][step]) == sorted(batch)
    assert EpochBatchSampler.batches_per_epoch(9, 4, world_size=2) == 2  # a last batch of 1 is dropped


@pytest.mark.slow
def test_restart_continues_exactly_as_if_never_stopped(tmp_path: Path, demo_dataset: DemoResult) -> None:
    """2N iterations straight == N, stop, N more (over an epoch boundary, with the cosine
    schedule), in deterministic mode."""
    straight = tiny_config(tmp_path / "a", demo_dataset, max_iters=6, deterministic=True)
    train(load_config(straight))
    resumed = tiny_config(tmp_path / "b", demo_dataset, max_iters=3, deterministic=True)
    first = train(load_config(resumed))
    assert first.iterations == 3
    second = train(load_config(resumed, overrides=[{"training": {"max_iters": 6}}]))
    assert second.iterations == 6 and second.epochs == 1
    assert_same_weights(weights(tmp_path / "a" / "run"), weights(tmp_path / "b" / "run"))
    assert first.parameter_digest != second.parameter_digest
    # the learning-rate schedule was resumed too
    lrs = [load_checkpoint(p / "run" / "model.pt")["optimizer"]["param_groups"][0]["lr"] for p in
           (tmp_path / "a", tmp_path / "b")]
    assert lrs[0] == lrs[1] < 1e-3


@pytest.mark.slow
def test_crash_after_a_checkpoint_resumes_from_it(
    tmp_path: Path, demo_dataset: DemoResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tiny_config(tmp_path / "a", demo_dataset, max_iters=5)
    train(load_config(reference))
    crashing = tiny_config(tmp_path / "b", demo_dataset, max_iters=5)
    original_step = Trainer.train_step

    def step_then_crash(self: Trainer, batch: dict[str, Any]) -> float:
        if self.it == 3:  # model.pt was saved at iteration 2; iteration 3 is lost
            raise KeyboardInterrupt("killed")
        return original_step(self, batch)

    monkeypatch.setattr(Trainer, "train_step", step_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train(load_config(crashing))
    assert load_checkpoint(tmp_path / "b" / "run" / "model.pt")["it"] == 2
    monkeypatch.setattr(Trainer, "train_step", original_step)
    train(load_config(crashing))
    assert_same_weights(weights(tmp_path / "a" / "run"), weights(tmp_path / "b" / "run"))
    rows = list(csv.DictReader((tmp_path / "b" / "run" / "loss.csv").open()))
    assert [int(r["it"]) for r in rows] == [1, 2, 3, 4, 5]  # no duplicates from the lost run


@pytest.mark.slow
def test_records_best_model_and_summary(tmp_path: Path, demo_dataset: DemoResult) -> None:
    run = tmp_path / "run"
    result = train(load_config(tiny_config(tmp_path, demo_dataset, max_iters=5, validate_every=2)))
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["it"]) for r in rows] == [2, 4, 5]  # every validate_every, and at the end
    best_rows = [r for r in rows if r["best"] == "1"]
    best_iou = max(float(r["val_iou"]) for r in rows)
    assert float(best_rows[-1]["val_iou"]) == pytest.approx(best_iou) == pytest.approx(result.best_metric)
    best = load_checkpoint(run / "model_best.pt")
    assert best["it"] == int(best_rows[-1]["it"])
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["iterations"] == 5 and summary["parameter_digest"] == result.parameter_digest
    assert best["config"]["model"]["decoder"] == "simple_local_attention_sub"  # rebuildable on its own


@pytest.mark.slow
def test_exit_after_saves_and_reports_early_stop(tmp_path: Path, demo_dataset: DemoResult) -> None:
    from alto.cli.main import main as alto_main

    config = tiny_config(tmp_path, demo_dataset, max_iters=50, exit_after=1e-9)
    assert alto_main(["train", str(config)]) == 3
    ckpt = load_checkpoint(tmp_path / "run" / "model.pt")
    assert ckpt["it"] == 1
    assert not (tmp_path / "run" / "train_summary.json").exists()  # the workflow sees an unfinished run


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tmp_path: Path, demo_dataset: DemoResult) -> None:
    """torchrun with 2 gloo processes: replicas stay identical (checked by the trainer at the end)
    and equal one process with the same global batch, up to float summation order.

    Adam divides by the root of the squared-gradient average, so where a gradient is
    about 0 the summation-order noise can move a weight by up to one learning rate per
    step; everywhere else the two runs agree to float precision. Unaveraged gradients or
    wrongly sharded batches would move most weights by about the learning rate.
    """
    ddp = tiny_config(tmp_path / "ddp", demo_dataset, max_iters=3, validate_every=3, lr_schedule="constant")
    single = tiny_config(tmp_path / "one", demo_dataset, max_iters=3, validate_every=3, lr_schedule="constant")
    env = {"OMP_NUM_THREADS": "1", "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"}
    launched = subprocess.run(
        [sys.executable, "-m", "alto.cli.main", "train", str(ddp), "--nproc", "2", "--device", "cpu"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    assert "launching 2 processes" in launched.stderr
    assert launched.stderr.count("after 3 iterations") == 1, launched.stderr[-3000:]  # rank 0 logs, rank 1 not
    train(load_config(single))
    a, b = weights(tmp_path / "ddp" / "run"), weights(tmp_path / "one" / "run")
    differences = np.concatenate([(a[key] - b[key]).abs().flatten().numpy() for key in a])
    lr, steps = 1e-3, 3
    assert np.percentile(differences, 99) < 1e-6
    assert differences.max() <= lr * steps
    summary = json.loads((tmp_path / "ddp" / "run" / "train_summary.json").read_text())
    assert summary["iterations"] == 3


@pytest.mark.slow
def test_bf16_autocast_and_channels_last_train(tmp_path: Path, demo_dataset: DemoResult) -> None:
    """The CUDA-oriented options also run on the CPU (bf16 autocast, channels-last weights)."""
    config = tiny_config(tmp_path, demo_dataset, max_iters=2, precision="bf16", channels_last=True)
    trainer = Trainer(load_config(config))
    conv = next(m for m in trainer.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    result = trainer.fit()
    assert result.iterations == 2 and np.isfinite(result.best_metric)


def test_fp16_needs_cuda(tmp_path: Path, demo_dataset: DemoResult) -> None:
    from alto.errors import ConfigError

    config = tiny_config(tmp_path, demo_dataset, precision="fp16", device="cpu")
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        Trainer(load_config(config))
