"""Small synthetic runs of train.py as a user starts them, and readers for what they leave behind.

The readers use TensorBoard's own EventAccumulator and plain JSON, independent of engine.run_dir's readers, so the
tests check the files as a user's tools read them."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

ROOT = Path(__file__).resolve().parents[2]


def run_train(*overrides: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run train.py as a user would, in a subprocess with this interpreter."""
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


# `python -c FRAMEWORK_PROBE <overrides>` runs train.py as a user does and prints, last, which frameworks it imported.
FRAMEWORK_PROBE = """
import atexit, runpy, sys
atexit.register(lambda: print("frameworks imported:", sorted(m for m in ("oneflow", "torch") if m in sys.modules)))
sys.argv = ["train.py", *sys.argv[1:]]
runpy.run_path("train.py", run_name="__main__")
"""


# Small and fast: synthetic data, the tiny CNN, 256 training images in batches of 64.
SMALL = ["data=synthetic", "model=tiny", "data.train_size=256", "data.batch_size=64", "data.dataset.test_size=200",
         "trainer.progress=false", "trainer.log_every_n_steps=2"]

# A tiny model on 640 synthetic images in batches of 64: 10 optimizer steps per epoch, ~1 s per epoch on a CPU.
FAST = ("data=synthetic", "model=tiny", "data.train_size=640", "data.batch_size=64", "trainer.progress=false")


# The session's one finished run (conftest's `finished_run`): cosine, 3 epochs of 10 steps, every step logged, seed 3.
FINISHED = (*FAST, "scheduler=cosine", "trainer.max_epochs=3", "trainer.log_every_n_steps=1", "seed=3")


def train_once(run_dir: Path, *overrides: str) -> Path:
    """A completed run of FINISHED, with `overrides` replacing its values of the same keys, in `run_dir`."""
    keys = {o.split("=", 1)[0] for o in overrides}
    result = run_train(*(o for o in FINISHED if o.split("=", 1)[0] not in keys), *overrides, f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr[-3000:]
    return run_dir


def read_scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar curve as TensorBoard shows it (purged steps removed), as (step, value) lists."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def read_summary(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "summary.json").read_text())

# Smaller still, for tests of how runs start and end: 2 optimizer steps per epoch, 2 epochs.
TINY = ("data=synthetic", "model=tiny", "data.train_size=128", "data.batch_size=64", "trainer.max_epochs=2",
        "trainer.progress=false")


def file_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder` (hidden ones included), by relative path."""
    import hashlib
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def assert_clean_failure(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    assert "Error executing job" not in result.stderr, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


# A longer run (63 steps per epoch, 3 epochs), for tests that stop or fail it part-way.
SLOW_RUN = ["data=synthetic", "model=tiny", "data.train_size=1000", "data.batch_size=16", "trainer.max_epochs=3",
       "trainer.progress=false", "trainer.log_every_n_steps=5"]

RESUMABLE_EPOCHS = 4


def start_resumable_run(run_dir: Path, *extra: str) -> subprocess.Popen:
    """A FAST run of RESUMABLE_EPOCHS epochs (10 steps each) started in the background, for kill-and-resume tests."""
    return subprocess.Popen([sys.executable, str(ROOT / "train.py"), *FAST, f"trainer.max_epochs={RESUMABLE_EPOCHS}", *extra,
                             f"hydra.run.dir={run_dir}"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def kill_after_checkpoint(process: subprocess.Popen, run_dir: Path, min_step: int) -> None:
    """SIGKILL `process` as soon as a checkpoint at or after `min_step` exists (mid-epoch), while it still runs."""
    deadline = time.time() + 120
    while time.time() < deadline:
        steps = [int(p.name.split("step=")[1].split(".")[0]) for p in (run_dir / "checkpoints").glob("epoch=*.ckpt")]
        if steps and max(steps) >= min_step:
            break
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()


# sitecustomize.py for a run whose checkpoint writes fail with ENOSPC once CHECKPOINTS_THAT_FIT have been written.
FULL_DISK_SITECUSTOMIZE = '''
import errno, os
_fsync, _count = os.fsync, [0]
def fsync(fd):
    if ".ckpt." in os.readlink(f"/proc/self/fd/{fd}"):
        _count[0] += 1
        if _count[0] > int(os.environ["CHECKPOINTS_THAT_FIT"]):
            raise OSError(errno.ENOSPC, "No space left on device")
    return _fsync(fd)
os.fsync = fsync
'''
