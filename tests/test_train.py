import json

import pytest
import torch

from neurodeploy.errors import CheckpointError, ConfigError
from neurodeploy.train.checkpoint import load_checkpoint
from neurodeploy.train.config import load_config
from neurodeploy.train.trainer import Trainer


def _cfg(epochs, **extra):
    sets = [f"train.epochs={epochs}", "train.augment_shift_px=1"] + [f"{k}={v}" for k, v in extra.items()]
    return load_config("configs/digits.toml", sets)


@pytest.mark.parametrize("schedule", ["constant", "cosine"])
def test_resume_after_an_interruption_continues_exactly(tmp_path, small_data, schedule):
    cfg = _cfg(3, **{"train.lr_schedule": f'"{schedule}"'})
    full = tmp_path / "full"
    Trainer(cfg, full, progress=False, data=small_data).fit()
    part = tmp_path / "part"
    Trainer(cfg, part, progress=False, data=small_data).fit(stop_after=2)
    Trainer(None, part, resume=True, progress=False, data=small_data).fit()
    a = load_checkpoint(full, "last")["model_state"]
    b = load_checkpoint(part, "last")["model_state"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    lines = (part / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [0, 1, 2]


def test_training_learns_and_writes_a_complete_run(trained_run):
    ckpt = load_checkpoint(trained_run, "last")
    assert ckpt["epoch"] == 7 and ckpt["classes"] == 10 and ckpt["input_shape"] == [2, 18, 18]
    assert {"model_state", "optimizer_state", "rng", "config", "metrics"} <= set(ckpt)
    assert ckpt["metrics"]["test_accuracy"] > 0.5  # chance is 0.1
    assert (trained_run / "best.pt").is_file() and (trained_run / "config.json").is_file()
    assert not list(trained_run.glob("*.tmp"))


def test_existing_run_is_not_overwritten(trained_run, small_data):
    with pytest.raises(ConfigError, match="already holds a run; use --resume"):
        Trainer(_cfg(1), trained_run, progress=False, data=small_data)


def test_missing_and_corrupt_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="has no last.pt"):
        load_checkpoint(tmp_path, "last")
    bad = tmp_path / "last.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="last.pt is not a readable checkpoint"):
        load_checkpoint(tmp_path, "last")
    torch.save({"weights": 1}, bad)
    with pytest.raises(CheckpointError, match="not a neurodeploy checkpoint"):
        load_checkpoint(bad)


def test_a_second_writer_of_a_run_folder_is_refused(tmp_path, small_data, monkeypatch):
    from neurodeploy.train import run_lock

    monkeypatch.setattr(run_lock, "WAIT_S", 0.2)
    run = tmp_path / "r"
    Trainer(_cfg(2), run, progress=False, data=small_data).fit(stop_after=1)
    other = run_lock.lock_run_dir(run)  # another process training into the folder
    with pytest.raises(ConfigError, match=r"r is being written by another training process .*waited 0.2 s"):
        Trainer(None, run, resume=True, progress=False, data=small_data)
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    busy = run_lock.lock_run_dir(fresh)
    trainer = Trainer(_cfg(1), fresh, progress=False, data=small_data)
    with pytest.raises(ConfigError, match="being written by another training process"):
        trainer.fit()
    assert not any(fresh.iterdir())  # refused before writing anything
    other.release()
    busy.release()
    result = Trainer(None, run, resume=True, progress=False, data=small_data).fit()
    assert result.epochs == 2
    run_lock.lock_run_dir(run, wait_s=0).release()  # fit let go of it
