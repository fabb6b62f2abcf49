"""The sweep presets compose to what their comments promise (no training)."""

import oneflow as flow
import pytest
from hydra.utils import instantiate

from engine.config.compose import compose_config


def test_compare_all_sweeps_every_schedule_over_three_seeds_on_the_standard_recipe():
    cfg = compose_config("experiment=compare_all", hydra_config=True)
    assert cfg.hydra.mode.name == "MULTIRUN"
    assert cfg.hydra.sweeper.params == {"scheduler": "glob(*)", "seed": "0,1,2"}
    assert (cfg.hydra.runtime.choices["data"], cfg.hydra.runtime.choices["model"]) == ("cifar100", "resnet18")
    optimizer = cfg.optimizer
    assert (cfg.trainer.max_epochs, cfg.data.batch_size, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (200, 128, 0.1, 0.9, 5e-4)


def test_reproduce_pytorch_cifar100_is_warmup_then_multistep():
    cfg = compose_config("experiment=reproduce_pytorch_cifar100")
    node = cfg.scheduler.lr_scheduler
    assert node._target_.endswith("WarmupLR") and node.scheduler_or_optimizer._target_.endswith("MultiStepLR")
    assert list(node.scheduler_or_optimizer.milestones) == [60, 120, 160] and node.scheduler_or_optimizer.gamma == 0.2
    # Built by hand with lengths in steps (what the factory does for interval: step), 10 steps per epoch:
    steps_per_epoch = 10
    optimizer = flow.optim.SGD([flow.nn.Parameter(flow.zeros(1))], lr=cfg.optimizer.lr)
    inner = instantiate({"_target_": node.scheduler_or_optimizer._target_}, optimizer,
                        milestones=[m * steps_per_epoch for m in node.scheduler_or_optimizer.milestones], gamma=0.2)
    schedule = instantiate({"_target_": node._target_}, inner, warmup_factor=node.warmup_factor,
                           warmup_iters=node.warmup_iters * steps_per_epoch, warmup_method=node.warmup_method)
    lrs = []
    for _ in range(200 * steps_per_epoch):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert lrs[0] == 0.0 and lrs[5] == pytest.approx(0.05)  # linear warmup over the first epoch
    for epoch, lr in [(1, 0.1), (59, 0.1), (60, 0.02), (120, 0.004), (160, 0.0008), (199, 0.0008)]:
        assert lrs[epoch * steps_per_epoch] == pytest.approx(lr, rel=1e-5), epoch


@pytest.mark.parametrize("schedule", ["cosine", "step", "multistep", "plateau", "constant"])
def test_digits_presets_fit_their_schedule_into_fifteen_epochs(schedule):
    cfg = compose_config(f"experiment=digits_{schedule}")
    assert cfg.scheduler.name == schedule and cfg.trainer.max_epochs == 15 and cfg.model._target_.endswith("TinyCNN")
    lr_scheduler = cfg.scheduler.lr_scheduler
    if "T_max" in lr_scheduler:
        assert lr_scheduler.T_max == 15
    for key in ("step_size", "milestones", "patience"):  # scaled down from the 200-epoch recipe
        if key in lr_scheduler:
            assert max([lr_scheduler[key]] if isinstance(lr_scheduler[key], int) else list(lr_scheduler[key])) < 15


def test_hparams_search_tunes_the_lr_with_optuna_on_the_validation_split():
    cfg = compose_config("hparams_search=lr", hydra_config=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper") and cfg.hydra.sweeper.direction == "maximize"
    assert cfg.hydra.sweeper.params == {"optimizer.lr": "tag(log, interval(0.005, 1.0))"}
    assert cfg.optimized_metric == "best_acc1" and cfg.data.val_split == 0.1


def test_hparams_search_writes_into_its_documented_folder():
    cfg = compose_config("hparams_search=lr", "scheduler=step", hydra_config=True)  # conf/config.yaml's own sweep dir must not win
    assert cfg.hydra.sweep.dir.startswith("multiruns/hparams_search/step/")


def test_slurm_launcher_exposes_gpus_time_and_partition():
    cfg = compose_config("hydra/launcher=slurm", "hydra.launcher.partition=gpu", "hydra.launcher.gpus_per_node=4", hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.gpus_per_node, launcher.timeout_min) == ("gpu", 4, 1440)


def test_the_readme_sweep_example_sweeps_schedules_whose_lr_curves_differ():
    """The quick start's `train.py -m` line: no schedule in it is constant by accident, no two curves are alike."""
    import shlex
    from pathlib import Path

    from engine.training.run import lr_never_changes, planned_lr_curve

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    line = next(line for line in readme.splitlines() if " train.py -m " in line)  # the quick start's, the first
    overrides = shlex.split(line)[3:]
    swept = next(o for o in overrides if o.startswith("scheduler=")).split("=", 1)[1].split(",")
    fixed = [o for o in overrides if "," not in o and not o.startswith("hydra.")]
    assert len(swept) >= 3
    curves = {}
    for schedule in swept:
        cfg = compose_config(*fixed, f"scheduler={schedule}")
        assert schedule == "constant" or lr_never_changes(cfg) is None, schedule
        curves[schedule] = tuple(lr for _, _, lr in planned_lr_curve(cfg))
    assert len(set(curves.values())) == len(swept)
