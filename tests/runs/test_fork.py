"""fork=<run dir>: cooldown branches off a WSD stable phase train exactly what separate runs would, recorded as children.

One parent (WSD, 4 epochs of 10 steps), a sweep of two branches (budgets 2 and 3) forked from it, and
a separate 3-epoch WSD run: the branch of budget 3 must equal the separate run bit for bit, at the cost
of its own steps only.
"""
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from engine.training.fork import _check_parent_config
from engine.run_dir.resume import fork_argv, resume_argv
from tests.support.runs import FAST, read_summary

WSD = (*FAST, "scheduler=wsd", "scheduler.lr_scheduler.warmup_iters=1", "trainer.keep_last=100", "optimizer.lr=0.05")


def job_dirs(sweep: Path) -> dict[str, Path]:
    return {p.parent.name: p.parent for p in sweep.glob("*/summary.json")}


def test_cooldown_branches_equal_separate_runs_at_the_cost_of_their_own_steps(tmp_path, train):
    parent = tmp_path / "parent"
    result = train(*WSD, "trainer.max_epochs=4", f"hydra.run.dir={parent}")
    assert result.returncode == 0, result.stderr
    sweep = tmp_path / "branches"
    result = train("-m", f"fork={parent}", "trainer.max_epochs=2,3", f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr
    branches = job_dirs(sweep)
    assert sorted(branches) == ["trainer.max_epochs=2", "trainer.max_epochs=3"]  # only what varies names a job
    separate = tmp_path / "separate"
    assert train(*WSD, "trainer.max_epochs=3", f"hydra.run.dir={separate}").returncode == 0

    branch, alone = read_summary(branches["trainer.max_epochs=3"]), read_summary(separate)
    # budget 3 = 30 steps, cooldown 20% = 6 steps from step 24: the last epoch boundary before it is epoch 2
    assert branch["forked_from"]["epoch"] == 2 and branch["forked_from"]["step"] == 20
    assert branch["forked_from"]["run"] == str(parent)
    assert branch["history"] == alone["history"] and branch["global_step"] == alone["global_step"] == 30
    assert branch["status"] == "completed" and branch["max_epochs"] == 3
    two = read_summary(branches["trainer.max_epochs=2"])  # cooldown from step 16: forks at epoch 1
    assert two["forked_from"]["epoch"] == 1 and two["global_step"] == 20
    assert read_summary(parent)["history"]["val/acc1"][:1] == two["history"]["val/acc1"][:1]


def test_fork_argv_takes_the_parents_overrides_and_records_it(tmp_path):
    parent = tmp_path / "job=1,seed=0"
    (parent / ".hydra").mkdir(parents=True)
    (parent / ".hydra" / "overrides.yaml").write_text("- experiment=digits_wsd\n- seed=3\n- fork.run=grandparent\n- hydra.run.dir=x\n")
    argv = fork_argv(["train.py", f"fork={parent}", "trainer.max_epochs=6"])
    assert argv == ["train.py", "experiment=digits_wsd", "seed=3", "trainer.max_epochs=6", f"fork.run='{parent}'"]
    assert fork_argv(["train.py", "seed=1"]) == ["train.py", "seed=1"]
    with pytest.raises(SystemExit) as stop:
        fork_argv(["train.py", f"fork={tmp_path}"])
    assert stop.value.code == 2
    # a fork is resumed with its own overrides, fork.run included (its saved config has it)
    (parent / ".hydra" / "overrides.yaml").write_text("- seed=3\n- fork.run=grandparent\n")
    assert "fork.run=grandparent" in resume_argv(["train.py", f"resume={parent}"])


def test_a_fork_may_change_only_the_schedule_and_the_length():
    saved = {"seed": 0, "model": {"width": 16}, "scheduler": {"name": "wsd"}, "trainer": {"max_epochs": 8}}
    _check_parent_config(saved, OmegaConf.create({**saved, "scheduler": {"name": "cosine"}, "trainer": {"max_epochs": 4},
                                                  "fork": {"run": "p", "at_epoch": "auto"}}), Path("p"))
    with pytest.raises(Exception) as error:
        _check_parent_config(saved, OmegaConf.create({**saved, "seed": 1, "model": {"width": 32}}), Path("p"))
    assert "model.width: 16 -> 32" in str(error.value) and "seed: 0 -> 1" in str(error.value)


def test_forking_at_an_epoch_without_a_checkpoint_names_the_ones_there(tmp_path, train):
    parent = tmp_path / "parent"
    assert train(*WSD, "trainer.max_epochs=2", "trainer.keep_last=1", f"hydra.run.dir={parent}").returncode == 0
    result = train(f"fork={parent}", "fork.at_epoch=1", "trainer.max_epochs=3", f"hydra.run.dir={tmp_path / 'child'}")
    assert result.returncode == 2 and "fork.at_epoch=1" in result.stderr and "[2]" in result.stderr, result.stderr
    assert not (tmp_path / "child").exists()


def test_a_fork_with_another_schedule_gets_that_schedules_keys_only(tmp_path):
    """The documented `fork=<digits_wsd run> fork.at_epoch=5 scheduler=linear_to_zero` failed with LinearLR's
    "unexpected keyword 'warmup_iters'": experiment=digits_wsd's WSD warmup leaked into the child's schedule."""
    from engine.config.compose import compose_config
    from engine.training.run import planned_lr_curve, validated
    parent = tmp_path / "parent"
    (parent / ".hydra").mkdir(parents=True)
    (parent / ".hydra" / "overrides.yaml").write_text("- experiment=digits_wsd\n- trainer.max_epochs=8\n")
    argv = fork_argv(["train.py", f"fork={parent}", "fork.at_epoch=5", "scheduler=linear_to_zero"])
    cfg = compose_config(*argv[1:])
    assert sorted(cfg.scheduler.lr_scheduler) == ["_target_", "end_factor", "start_factor", "total_iters"]
    validated(cfg, ranks=1)  # the schedule builds
    lrs = [lr for _, _, lr in planned_lr_curve(cfg)]
    spe = len(lrs) // 8
    assert lrs[5 * spe] == pytest.approx(0.05 * (1 - 5 / 8))  # what the docs say the LR is at the fork step
    wsd = compose_config("experiment=digits_wsd")  # the experiment's own schedule keeps its 1-epoch warmup
    assert wsd.scheduler.lr_scheduler.warmup_iters == 1 and wsd.scheduler.name == "wsd"


def test_the_documented_tail_from_the_parents_lr_forks_where_its_cooldown_begins():
    """docs/schedules.md: a WSD child whose linear cooldown starts at epoch 5 of 8 continues from the parent's LR."""
    from engine.config.compose import compose_config
    from engine.training.fork import agreeing_steps
    from engine.training.run import planned_lr_curve, steps_per_epoch
    parent = compose_config("experiment=digits_wsd", "trainer.max_epochs=8")
    child = compose_config("experiment=digits_wsd", "trainer.max_epochs=8", "scheduler.lr_scheduler.decay_shape=linear",
                           "scheduler.lr_scheduler.decay_fraction=0.375")
    spe = steps_per_epoch(child)
    assert agreeing_steps(parent, child) >= 5 * spe  # fork.at_epoch=auto takes epoch 5
    lrs = [lr for _, _, lr in planned_lr_curve(child)]
    assert lrs[5 * spe] == pytest.approx(0.05) and lrs[-1] == pytest.approx(0.05 / (3 * spe))  # linear to 0 at the end


def test_only_end_of_epoch_checkpoints_are_places_to_fork_from(tmp_path):
    """A run stopped mid-epoch leaves `epoch=0000-step=000000015.ckpt` (0 epochs done, 15 steps): it was listed as a
    checkpoint of epoch 0, and `fork.at_epoch=0`, which the refusal then offered, was itself refused."""
    from engine.training.fork import epoch_checkpoints

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    for name in ("epoch=0000-step=000000015.ckpt", "epoch=0001-step=000000023.ckpt", "epoch=0001-step=000000030.ckpt",
                 "epoch=0002-step=000000046.ckpt"):
        (folder / name).write_bytes(b"")
    assert {e: p.name for e, p in epoch_checkpoints(tmp_path, 23).items()} == {
        1: "epoch=0001-step=000000023.ckpt", 2: "epoch=0002-step=000000046.ckpt"}
