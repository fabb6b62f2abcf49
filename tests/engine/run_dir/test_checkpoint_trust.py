"""Checkpoints carry a SHA-256 of their content: a corrupt or foreign newest one (another program's, another config's,
a FIFO, a pickle asking for terabytes) is reported and the previous one used."""
import hashlib
import json
import os
import pickle
import re
import shutil
import signal

import numpy as np
import pytest
from omegaconf import OmegaConf

from engine.run_dir.checkpoint import STATE_KEYS, CheckpointDir, CheckpointError, load_checkpoint, serialize
from engine.run_dir.files import record_run_info
from engine.run_dir.resume import missing_state, newest_valid_state
from tests.support.runs import TINY, read_summary


def _flip_a_byte_inside(path, array):
    """Flip one byte in the middle of `array`'s values as stored in the checkpoint at `path`."""
    data = bytearray(path.read_bytes())
    start = data.find(np.ascontiguousarray(array).tobytes())
    assert start > 0, "the array's bytes should be stored verbatim"
    data[start + array.nbytes // 2] ^= 0x10
    path.write_bytes(bytes(data))


def test_a_flipped_byte_in_a_tensor_is_detected_and_the_previous_checkpoint_used(tmp_path, capsys):
    folder = CheckpointDir(tmp_path, keep_last=3)
    momentum = np.linspace(0, 1, 4096, dtype=np.float32)
    for step in (1, 2):
        folder.save({"step": step, "momentum": momentum * step}, epoch=step, global_step=step)
    newest = folder.latest()
    _flip_a_byte_inside(newest, momentum * 2)

    with pytest.raises(CheckpointError, match="does not match its SHA-256 checksum.*strict_resume=true"):
        folder.latest_valid(strict=True)
    assert newest.exists()  # strict: nothing moved

    path, state = folder.latest_valid()
    assert path.name == "epoch=0001-step=000000001.ckpt" and state["step"] == 1
    np.testing.assert_array_equal(state["momentum"], momentum)
    warning = " ".join(capsys.readouterr().err.split())
    assert f"checkpoint {newest} is corrupt" in warning and "Continuing from the previous valid checkpoint" in warning
    assert [p.name for p in folder.checkpoints()] == [path.name]  # the bad one is set aside, kept for inspection
    assert (tmp_path / (newest.name + ".corrupt")).exists()


@pytest.mark.parametrize("content, reason", [
    (pickle.dumps({}), "an older train.py's checkpoint (no checksum)"),
    (b"", "is empty"),
    (b"GIF89a garbage", "not a checkpoint of this train.py"),
    (serialize({"step": 1})[:-7], "is truncated"),
])
def test_unreadable_checkpoints_are_one_paragraph(tmp_path, content, reason):
    path = tmp_path / "epoch=0001-step=000000001.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=re.escape(reason)):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="No checkpoint in .* can be used"):
        CheckpointDir(tmp_path).latest_valid()


def test_a_well_formed_checkpoint_that_is_not_a_runs_state_is_refused(tmp_path):
    (tmp_path / "epoch=0001-step=000000001.ckpt").write_bytes(serialize({}))
    with pytest.raises(CheckpointError, match="lacks config, progress, model, steps, schedule, rng"):
        CheckpointDir(tmp_path).latest_valid(accept=missing_state)


def test_train_falls_back_from_a_corrupt_newest_checkpoint_to_the_same_result(tmp_path, train):
    result = train(*TINY, f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    newest = tmp_path / "checkpoints" / "epoch=0002-step=000000004.ckpt"
    reference = load_checkpoint(newest)["model"]
    shutil.copy(tmp_path / "summary.json", tmp_path / "summary.done")
    (tmp_path / "summary.json").write_text(json.dumps({**read_summary(tmp_path), "status": "interrupted"}))
    weight = next(value for key, value in reference.items() if key.endswith("weight")).numpy()
    _flip_a_byte_inside(newest, weight)

    resumed = train(*TINY, f"hydra.run.dir={tmp_path}")
    assert resumed.returncode == 0 and "Traceback" not in resumed.stderr, resumed.stderr[-3000:]
    assert "is corrupt" in resumed.stderr and "epoch=0001-step=000000002.ckpt" in resumed.stderr
    assert "resuming from" in resumed.stdout and read_summary(tmp_path)["status"] == "completed"
    for key, value in load_checkpoint(newest)["model"].items():  # epoch 2 trained again, to the same weights
        np.testing.assert_allclose(value.numpy(), reference[key].numpy(), rtol=1e-6, atol=1e-7)

    for path in (tmp_path / "checkpoints").glob("epoch=*.ckpt"):  # nothing valid left: refused, recorded as failed
        path.write_bytes(b"garbage")
    (tmp_path / "summary.json").write_text(json.dumps({**read_summary(tmp_path), "status": "interrupted"}))
    refused = train(*TINY, f"hydra.run.dir={tmp_path}")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    summary = read_summary(tmp_path)
    assert summary["status"] == "failed" and "No checkpoint in" in summary["error"] and "\n" not in summary["error"]


class _HugeArray:
    """Pickles as a call of the allowed numpy globals that asks for a 10^12-element array (no code of its own)."""

    def __init__(self, how):
        self.how = how

    def __reduce__(self):
        if self.how == "ndarray":
            return np.ndarray, ((10**12,),)
        return np.core.multiarray._reconstruct, (np.ndarray, (10**12,), b"b")


def _checksummed(folder, step, payload_object):
    """A checkpoint file with a valid header and checksum around a pickle of `payload_object`."""
    payload = pickle.dumps(payload_object, protocol=2)
    header = f"lrs-checkpoint v2 sha256={hashlib.sha256(payload).hexdigest()} bytes={len(payload)}\n".encode()
    (folder / f"epoch={step:04d}-step={step:09d}.ckpt").write_bytes(header + payload)


@pytest.mark.parametrize("how", ["ndarray", "_reconstruct"])
def test_a_checksummed_checkpoint_asking_for_a_huge_array_is_refused_and_fallen_back_from(tmp_path, how):
    folder = CheckpointDir(tmp_path)
    folder.save({"step": 1}, epoch=1, global_step=1)
    _checksummed(tmp_path, 2, {"model": _HugeArray(how)})
    with pytest.raises(CheckpointError, match="valid checksum but cannot be unpickled"):
        load_checkpoint(tmp_path / "epoch=0002-step=000000002.ckpt")
    path, state = folder.latest_valid()
    assert state == {"step": 1} and (tmp_path / "epoch=0002-step=000000002.ckpt.corrupt").exists()


def test_a_fifo_named_like_a_checkpoint_is_fallen_back_from_without_blocking(tmp_path):
    folder = CheckpointDir(tmp_path)
    folder.save({"step": 1}, epoch=1, global_step=1)
    os.mkfifo(tmp_path / "epoch=0002-step=000000002.ckpt")
    signal.alarm(60)  # reading the FIFO would block forever: the alarm ends the test process instead
    try:
        path, state = folder.latest_valid()
    finally:
        signal.alarm(0)
    assert state == {"step": 1} and path.name == "epoch=0001-step=000000001.ckpt"
    with pytest.raises(CheckpointError, match="is not a regular file"):
        load_checkpoint(tmp_path / "epoch=0002-step=000000002.ckpt.corrupt")


def test_a_newest_checkpoint_of_another_config_is_reported_and_fallen_back_from(tmp_path, capsys):
    cfg = OmegaConf.create({"optimizer": {"lr": 0.1}, "trainer": {"strict_resume": False}})
    state = {key: {} for key in STATE_KEYS}
    folder = CheckpointDir(tmp_path)
    folder.save({**state, "config": OmegaConf.to_container(cfg)}, epoch=1, global_step=1)
    folder.save({**state, "config": {"optimizer": {"lr": 0.5}, "trainer": {"strict_resume": False}}}, epoch=2, global_step=2)
    with pytest.raises(CheckpointError, match=r"another config \(optimizer.lr: 0.5 -> 0.1\).*strict_resume=true"):
        newest_valid_state(folder, OmegaConf.merge(cfg, {"trainer": {"strict_resume": True}}), "cpu")
    path, _ = newest_valid_state(folder, cfg, "cpu")
    assert path.name == "epoch=0001-step=000000001.ckpt"
    warning = " ".join(capsys.readouterr().err.split())
    assert "was written by a run of another config" in warning and "Continuing from the previous valid checkpoint" in warning


def test_a_garbage_run_info_is_set_aside_and_a_new_one_started(tmp_path, capsys):
    (tmp_path / "run_info.json").write_text("\x00garbage{")
    record_run_info(tmp_path, "cpu", resumed_from_step=4)
    info = json.loads((tmp_path / "run_info.json").read_text())
    assert info["resumed"][0]["from_global_step"] == 4 and "started" in info
    assert (tmp_path / "run_info.json.corrupt").read_text() == "\x00garbage{"
    assert "run_info.json cannot be read" in " ".join(capsys.readouterr().err.split())
