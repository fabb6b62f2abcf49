"""A diverging run stops at once, says where in summary.json, and exits 0 so a sweep goes on."""
import math

from tests.support.runs import FAST, read_scalars, read_summary


def test_huge_learning_rate_ends_as_diverged_with_exit_code_0(tmp_path, train):
    result = train(*FAST, "trainer.max_epochs=3", "optimizer.lr=1e5", "trainer.log_every_n_steps=4", f"hydra.run.dir={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "diverged: non-finite loss at step" in result.stdout
    summary = read_summary(tmp_path)
    assert summary["status"] == "diverged"
    diverged = summary["diverged"]
    assert diverged["epoch"] == 1 and 0 <= diverged["step"] < 10
    lrs = dict(read_scalars(tmp_path)["lr"])
    assert math.isclose(diverged["lr"], lrs[diverged["step"]], rel_tol=1e-6)  # the LR of the first bad step
    # It stopped at the first check after the loss went bad (every 4 steps here), not at the end of the run.
    assert max(lrs) < 4 * (diverged["step"] // 4 + 1) and summary["epochs"] == 0
    assert not list((tmp_path / "checkpoints").glob("*.ckpt"))  # nothing non-finite was checkpointed
    assert "nothing to do" in train(*FAST, "trainer.max_epochs=3", "optimizer.lr=1e5", "trainer.log_every_n_steps=4",
                                    f"hydra.run.dir={tmp_path}").stdout  # re-running a sweep skips it
