"""Checkpoints carry a SHA-256 of their content: a corrupt or foreign newest one is reported and the previous one used."""
import json
import pickle
import re
import shutil

import numpy as np
import pytest

from engine.run_dir.checkpoint import CheckpointDir, CheckpointError, load_checkpoint, serialize
from engine.run_dir.resume import missing_state
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
