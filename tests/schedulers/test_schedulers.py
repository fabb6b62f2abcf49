"""Every conf/scheduler/*.yaml against closed forms written independently here, cadence, resume, errors.

The run: 200 epochs of 5 optimizer steps (train_size 640, batch 128), SGD lr 0.1, so a whole curve
is 1000 steps and every test stays fast. Closed forms are in optimizer steps s, with E = epochs.
"""
import json
import math
import pickle

import oneflow as flow
import pytest

from engine.config.compose import CONF, compose_config
from schedulers import ScheduleConfigError, build_lr_schedule
from engine.training.run import planned_lr_curve

SCHEDULES = sorted(p.stem for p in (CONF / "scheduler").glob("*.yaml"))
SPE, EPOCHS, LR = 5, 200, 0.1
T = SPE * EPOCHS
RUN = ["data.train_size=640", "data.batch_size=128", f"trainer.max_epochs={EPOCHS}", f"optimizer.lr={LR}"]
# A validation loss that improves for 20 epochs, then stalls: with patience 10 a plateau schedule
# reduces after epochs 30, 41, 52, ... (11 bad epochs each time; 0-based epoch indices).
STALLING_LOSS = [5.0 - 0.1 * min(e, 19) for e in range(EPOCHS)]


def compose_run(*overrides):
    return compose_config(*RUN, *overrides)


def curve_of(*overrides, val_curve=STALLING_LOSS):
    return [lr for _, _, lr in planned_lr_curve(compose_run(*overrides), val_curve=val_curve)]


def warm(s, steps, start):  # linear factor start -> 1 over `steps`
    return start + (1 - start) * s / steps if s < steps else 1.0


def half_cos(progress):
    return 0.5 * (1 + math.cos(math.pi * progress))


def plateau_lr(epoch):  # reductions take effect the epoch after 30, 41, 52, ...; eps=1e-8 stops them at 1e-8
    reductions = sum(1 for k in range(20) if 30 + 11 * k < epoch)
    return LR * 0.1 ** min(reductions, 7)


def cosine_restarts(s, first=5 * SPE, mult=3):
    start, length = 0, first
    while s >= start + length:
        start, length = start + length, length * mult
    return LR * half_cos((s - start) / length)


def onecycle(s, pct=0.3, div=25.0, final=1e4, cos=True, three=False):
    lo, lmin = LR / div, LR / div / final
    points = [(0, lo), (pct * T, LR), (2 * pct * T, lo), (T, lmin)] if three else [(0, lo), (pct * T, LR), (T, lmin)]
    for (a, va), (b, vb) in zip(points, points[1:]):
        if s <= b:
            p = (s - a) / (b - a)
            return vb + (va - vb) * half_cos(p) if cos else va + (vb - va) * p


def smith_clr(s, half=20 * SPE, low=0.01 * LR, mode="triangular2", gamma_per_step=1.0):
    cycle = math.floor(1 + s / (2 * half))
    x = abs(s / half - 2 * cycle + 1)
    amplitude = {"triangular": 1.0, "triangular2": 1 / 2 ** (cycle - 1), "exp_range": gamma_per_step ** s}[mode]
    return low + (LR - low) * max(0.0, 1 - x) * amplitude


def wsd(s, shape="1-sqrt", fraction=0.2, warmup=5 * SPE):  # warmup from 0, stable, cooldown over the last `fraction`
    start = T - round(fraction * T)
    if s < warmup:
        return LR * max(s, 1) / warmup  # step 0 as step 1: the first step never trains at LR 0
    if s < start:
        return LR
    p = (s - start) / (T - start)
    return LR * {"linear": 1 - p, "cosine": half_cos(p), "1-sqrt": 1 - math.sqrt(p)}[shape]


EXPECTED = {
    "constant": lambda s: LR,
    "linear": lambda s: LR * warm(s, 5 * SPE, 0.1),
    "exponential": lambda s: LR * 0.97 ** (s / SPE),
    "step": lambda s: LR * 0.2 ** (s // (60 * SPE)),
    "multistep": lambda s: LR * 0.2 ** sum(s >= m * SPE for m in (60, 120, 160)),
    "polynomial": lambda s: LR * (1 - s / T) ** 2,
    "cosine_decay": lambda s: LR * (0.01 + 0.99 * half_cos(s / T)),
    "cosine": lambda s: LR * half_cos(s / T),
    "cosine_restarts": cosine_restarts,
    "noam": lambda s: LR * min(math.sqrt(5 * SPE / max(s, 1)), max(s, 1) / (5 * SPE)),  # step 0 as step 1
    "sequential": lambda s: LR * (warm(s, 5 * SPE, 0.01) if s < 5 * SPE else 1.0 if s < 160 * SPE else 1 - (s - 160 * SPE) / (40 * SPE)),
    "warmup_cosine": lambda s: LR * (0.01 + (half_cos(5 * SPE / T) - 0.01) * s / (5 * SPE) if s < 5 * SPE else half_cos(s / T)),
    "chained": lambda s: LR * warm(s, 5 * SPE, 0.01) * half_cos(s / T),
    "plateau": lambda s: plateau_lr(s // SPE),
    "warmup_plateau": lambda s: LR * warm(s, 5 * SPE, 0.01) if s < 5 * SPE else plateau_lr(s // SPE),
    "onecycle": onecycle,
    "cyclic": smith_clr,
    "linear_to_zero": lambda s: LR * (1 - s / T),
    "wsd": wsd,
}
VARIANTS = [  # (overrides, closed form) for options the default YAMLs leave off
    (["scheduler=onecycle", "scheduler.lr_scheduler.anneal_strategy=linear"], lambda s: onecycle(s, cos=False)),
    (["scheduler=onecycle", "scheduler.lr_scheduler.three_phase=true"], lambda s: onecycle(s, three=True)),
    (["scheduler=cyclic", "scheduler.lr_scheduler.mode=triangular"], lambda s: smith_clr(s, mode="triangular")),
    (["scheduler=cyclic", "scheduler.lr_scheduler.mode=exp_range", "scheduler.lr_scheduler.gamma=0.98"],
     lambda s: smith_clr(s, mode="exp_range", gamma_per_step=0.98 ** (1 / SPE))),
    (["scheduler=polynomial", "scheduler.lr_scheduler.cycle=true", "scheduler.lr_scheduler.decay_batch=50"],
     lambda s: LR * (1 - s / (50 * SPE * max(1, math.ceil(s / (50 * SPE))))) ** 2),
    (["scheduler=cosine_restarts", "scheduler.lr_scheduler.T_mult=2", "scheduler.lr_scheduler.T_0=3"],
     lambda s: cosine_restarts(s, 3 * SPE, 2)),
    (["scheduler=warmup_cosine", "scheduler.lr_scheduler.warmup_prefix=true", "scheduler.lr_scheduler.scheduler_or_optimizer.T_max=195"],
     lambda s: LR * (warm(s, 5 * SPE, 0.01) if s < 5 * SPE else half_cos((s - 5 * SPE) / (195 * SPE)))),
    (["scheduler=noam", "scheduler.lr_scheduler.lr_lambda.factor=2.0", "scheduler.lr_scheduler.lr_lambda.d_model=64"],
     lambda s: LR * 2.0 * 64 ** -0.5 * min(max(s, 1) ** -0.5, max(s, 1) * (5 * SPE) ** -1.5)),
    (["scheduler=plateau", "scheduler.monitor=val/acc1"], lambda s: plateau_lr(s // SPE)),
    (["scheduler=wsd", "scheduler.lr_scheduler.decay_shape=linear"], lambda s: wsd(s, "linear")),
    (["scheduler=wsd", "scheduler.lr_scheduler.decay_shape=cosine", "scheduler.lr_scheduler.decay_fraction=0.5"],
     lambda s: wsd(s, "cosine", 0.5)),
    (["scheduler=wsd", "~scheduler.lr_scheduler.warmup_iters"], lambda s: wsd(s, warmup=0)),
]


def assert_curve(actual, expected_fn):
    assert len(actual) == T
    bad = [(s, lr, expected_fn(s)) for s, lr in enumerate(actual) if not math.isclose(lr, expected_fn(s), rel_tol=1e-9, abs_tol=1e-15)]
    assert not bad, f"{len(bad)} steps differ, first: {bad[:3]}"


def test_every_schedule_has_a_closed_form_here():
    assert sorted(EXPECTED) == SCHEDULES


@pytest.mark.parametrize("name", SCHEDULES)
def test_curve_matches_closed_form(name):
    assert_curve(curve_of(f"scheduler={name}"), EXPECTED[name])


@pytest.mark.parametrize("overrides,expected", VARIANTS, ids=[" ".join(o) for o, _ in VARIANTS])
def test_variant_matches_closed_form(overrides, expected):
    val = [10 - v for v in STALLING_LOSS] if "scheduler.monitor=val/acc1" in overrides else STALLING_LOSS  # accuracy rises, stalls
    assert_curve(curve_of(*overrides, val_curve=val), expected)


@pytest.mark.parametrize("name", [n for n in SCHEDULES if n != "plateau"])
def test_step_and_epoch_cadence_agree_at_epoch_boundaries(name):
    per_step = curve_of(f"scheduler={name}", "scheduler.interval=step")
    per_epoch = curve_of(f"scheduler={name}", "scheduler.interval=epoch")
    for epoch in range(EPOCHS):  # epoch 0 included, except Noam's and WSD's: step 0 counts as step 1 in either unit
        if name in ("noam", "wsd") and epoch == 0:  # both warm up from 0 over 5 epochs
            assert per_step[0] == pytest.approx(LR / (5 * SPE)) and per_epoch[0] == pytest.approx(LR / 5)
            continue
        assert math.isclose(per_step[epoch * SPE], per_epoch[epoch * SPE], rel_tol=1e-9, abs_tol=1e-15), epoch
        assert len(set(per_epoch[epoch * SPE:(epoch + 1) * SPE])) == 1  # per-epoch: constant within an epoch


def run_steps(schedule, steps, start=0):
    lrs = []
    for step in range(start, start + steps):
        lrs.append(schedule.optimizer.param_groups[0]["lr"])
        schedule.after_optimizer_step()
        if (step + 1) % SPE == 0:
            schedule.after_epoch({"val/loss": STALLING_LOSS[step // SPE], "val/acc1": 0.0})
    return lrs


def build(cfg):
    optimizer = flow.optim.SGD([flow.nn.Parameter(flow.zeros(2))], lr=LR, momentum=0.9)
    return build_lr_schedule(cfg.scheduler, optimizer, SPE, max_epochs=cfg.trainer.max_epochs)


@pytest.mark.parametrize("name", SCHEDULES)
def test_state_dict_round_trip_continues_the_curve(name):
    cfg = compose_run(f"scheduler={name}")
    uninterrupted = build(cfg)
    reference = run_steps(uninterrupted, T)
    first = build(cfg)
    split = 35 * SPE + 3  # mid-epoch, after plateau reduction 1 with bad epochs counted since
    head = run_steps(first, split)
    saved = pickle.loads(pickle.dumps(first.state_dict()))
    if name == "plateau":
        assert saved["scheduler"]["num_bad_steps"] > 0 and saved["lrs"][0] < LR
    resumed = build(cfg)  # a fresh process: fresh optimizer at the base LR
    resumed.load_state_dict(saved)
    assert head + run_steps(resumed, T - split, start=split) == reference


def test_describe_is_json_in_optimizer_steps():
    schedule = build(compose_run("scheduler=sequential"))
    description = json.loads(json.dumps(schedule.describe()))
    node = description["lr_scheduler"]
    assert node["class"] == "SequentialLR" and node["args"]["milestones"] == [5 * SPE, 160 * SPE]
    assert [s["class"] for s in node["args"]["schedulers"]] == ["LinearLR", "ConstantLR", "LinearLR"]
    assert node["args"]["schedulers"][2]["args"]["total_iters"] == 40 * SPE
    assert description["interval"] == "step" and description["steps_per_epoch"] == SPE
    epoch_node = build(compose_run("scheduler=step", "scheduler.interval=epoch")).describe()
    assert epoch_node["length_unit"] == "epoch" and epoch_node["lr_scheduler"]["args"]["step_size"] == 60


def test_fractional_epochs_become_steps():
    schedule = build(compose_run("scheduler=linear", "scheduler.lr_scheduler.total_iters=0.4"))
    assert schedule.describe()["lr_scheduler"]["args"]["total_iters"] == 2  # 0.4 epoch x 5 steps


def test_graph_support_needs_per_step_cadence():
    assert not build(compose_run("scheduler=cosine", "scheduler.interval=epoch")).supports_graph


BAD = [  # (overrides, words the one-paragraph message must contain)
    (["scheduler=cosine", "scheduler.lr_scheduler.T_max=0"], ["scheduler.lr_scheduler.T_max = 0", "positive numbers of epochs"]),
    (["scheduler=step", "scheduler.lr_scheduler.step_size=-5"], ["step_size = -5", "positive"]),
    (["scheduler=multistep", "scheduler.lr_scheduler.milestones=[120,60,160]"], ["milestones = [120, 60, 160]", "increasing"]),
    (["scheduler=multistep", "scheduler.lr_scheduler.milestones=[60,250]"], ["milestones = [60, 250]", "max_epochs = 200"]),
    (["scheduler=sequential", "scheduler.lr_scheduler.milestones=[5,200]"], ["milestones = [5, 200]", "outside the run"]),
    (["scheduler=warmup_cosine", "scheduler.lr_scheduler.warmup_iters=250"], ["warmup_iters = 250", "shorter than the run"]),
    (["scheduler=warmup_plateau", "scheduler.lr_scheduler.warmup_iters=200"], ["warmup_iters = 200", "shorter than the run"]),
    (["scheduler=linear", "scheduler.lr_scheduler.total_iters=5", "trainer.max_epochs=3"],  # every warmup alike:
     ["total_iters = 5", "is a warmup", "shorter than the run"]),
    (["scheduler=chained", "scheduler.lr_scheduler.schedulers.0.total_iters=5", "trainer.max_epochs=3"],
     ["schedulers[0].total_iters = 5", "shorter than the run"]),
    (["scheduler=cyclic", "scheduler.lr_scheduler.step_size_up=20", "trainer.max_epochs=2"], ["step_size_up = 20", "is a warmup"]),
    (["scheduler=step", "scheduler.lr_scheduler.step_size=150%"], ["step_size = '150%'", "at most 100%"]),
    (["scheduler=step", "scheduler.lr_scheduler.step_size=thirty%"], ["step_size = 'thirty%'", "such as '30%'"]),
    (["scheduler=plateau", "scheduler.monitor=val/f1"], ["scheduler.monitor = 'val/f1'", "val/acc1", "val/loss"]),
    (["scheduler=plateau", "scheduler.monitor=null"], ["monitor = None", "val/loss"]),
    (["scheduler=plateau", "scheduler.interval=step"], ["scheduler.interval = 'step'", "interval: epoch"]),
    (["scheduler=plateau", "+scheduler.lr_scheduler.mode=max"], ["mode = 'max'", "use mode: min"]),
    (["scheduler=cosine", "scheduler.monitor=val/loss"], ["monitor = 'val/loss'", "no ReduceLROnPlateau"]),
    (["scheduler=noam", "scheduler.lr_scheduler.lr_lambda=0.5"], ["lr_lambda = 0.5", "not callable"]),
    (["scheduler=noam", "scheduler.lr_scheduler.lr_lambda='lambda s: 1.0'"], ["lr_lambda = 'lambda s: 1.0'", "not callable"]),
    (["scheduler=cosine", "scheduler.lr_scheduler._target_=oneflow.optim.lr_scheduler.Cosine"],
     ["_target_ = 'oneflow.optim.lr_scheduler.Cosine'", "cannot be imported", "CosineAnnealingLR"]),
    (["scheduler=cosine", "scheduler.lr_scheduler._target_=collections.OrderedDict"], ["OrderedDict", "not a learning-rate scheduler"]),
    (["scheduler=cosine", "scheduler.interval=hourly"], ["interval = 'hourly'", "step", "epoch"]),
    (["scheduler=step", "scheduler.interval=epoch", "scheduler.lr_scheduler.step_size=2.5"], ["step_size = 2.5", "whole number of epochs"]),
    (["scheduler=onecycle", "scheduler.lr_scheduler.pct_start=1.5"], ["OneCycleLR", "pct_start"]),
    (["scheduler=exponential", "scheduler.lr_scheduler.gamma=-1"], ["gamma = -1", "positive factor per epoch"]),
    (["scheduler=wsd", "scheduler.lr_scheduler.decay_shape=sqrt"], ["WSD", "decay_shape", "1-sqrt"]),
    (["scheduler=wsd", "scheduler.lr_scheduler.decay_fraction=0.99"], ["WSD", "do not fit"]),
    (["scheduler=wsd", "scheduler.lr_scheduler.decay_fraction=1.5"], ["WSD", "decay_fraction", "(0, 1]"]),
    # accepted by the class, but a negative end LR trained to -0.98, a negative power failed at a step with 1/0
    (["scheduler=polynomial", "scheduler.lr_scheduler.end_learning_rate=-1"],
     ["end_learning_rate = -1", "PolynomialLR", "at least 0"]),
    (["scheduler=polynomial", "scheduler.lr_scheduler.power=-2"], ["power = -2", "PolynomialLR", "at least 0"]),
]


@pytest.mark.parametrize("overrides,needles", BAD, ids=[" ".join(o) for o, _ in BAD])
def test_bad_config_names_field_value_and_remedy(overrides, needles):
    with pytest.raises(ScheduleConfigError) as error:
        build(compose_run(*overrides))
    message = str(error.value)
    for needle in needles:
        assert needle in message, message


def test_plateau_mode_follows_the_metric():
    assert build(compose_run("scheduler=plateau")).scheduler.mode == "min"
    assert build(compose_run("scheduler=plateau", "scheduler.monitor=val/acc1")).scheduler.mode == "max"
    assert build(compose_run("scheduler=warmup_plateau", "scheduler.monitor=val/acc5")).scheduler.plateau.mode == "max"


def test_resume_with_another_schedule_is_refused():
    saved = build(compose_run("scheduler=cosine")).state_dict()
    with pytest.raises(ScheduleConfigError, match="scheduler=cosine"):
        build(compose_run("scheduler=step")).load_state_dict(saved)


def test_every_param_group_follows_the_schedule():
    cfg = compose_run("scheduler=onecycle")
    optimizer = flow.optim.SGD([{"params": [flow.nn.Parameter(flow.zeros(1))], "lr": 0.1},
                                {"params": [flow.nn.Parameter(flow.zeros(1))], "lr": 0.01}])
    schedule = build_lr_schedule(cfg.scheduler, optimizer, SPE, max_epochs=EPOCHS)
    for _ in range(400):
        assert math.isclose(optimizer.param_groups[1]["lr"], 0.1 * optimizer.param_groups[0]["lr"], rel_tol=1e-12)
        schedule.after_optimizer_step()


def annotated_transformer_rate(step, model_size, factor, warmup):
    """The PyTorch reference (harvardnlp's Annotated Transformer, `rate`), copied: it clamps step 0 to 1."""
    if step == 0:
        step = 1
    return factor * (model_size ** (-0.5) * min(step ** (-0.5), step * warmup ** (-1.5)))


def test_noam_matches_the_pytorch_recipe_and_its_first_step_trains():
    """Noam's LR at step 0 was 0, so the first optimizer step changed nothing."""
    curve = curve_of("scheduler=noam", "scheduler.lr_scheduler.lr_lambda.factor=1.0")
    expected = [LR * annotated_transformer_rate(s, 512, 1.0, 5 * SPE) for s in range(T)]
    assert all(math.isclose(a, b, rel_tol=1e-12) for a, b in zip(curve, expected)) and curve[0] > 0
    epoch_curve = curve_of("scheduler=noam", "scheduler.interval=epoch")
    assert epoch_curve[0] == pytest.approx(LR / 5)  # the preset's first epoch trains at a fifth of the LR, not at 0


def test_wsd_warming_up_from_zero_trains_its_first_step():
    """WSD with warmup_factor 0 trained step 0 at LR 0, and with interval: epoch the whole first epoch (as Noam did)."""
    assert curve_of("scheduler=wsd")[:3] == pytest.approx([LR / (5 * SPE), LR / (5 * SPE), 2 * LR / (5 * SPE)])  # as Noam
    epoch_curve = curve_of("scheduler=wsd", "scheduler.interval=epoch")
    assert epoch_curve[:SPE] == pytest.approx([LR / 5] * SPE) and epoch_curve[SPE] == pytest.approx(LR / 5)
    assert curve_of("scheduler=wsd", "scheduler.lr_scheduler.warmup_factor=0.01")[0] == pytest.approx(0.01 * LR)


@pytest.mark.parametrize("shape", ["linear", "cosine"])
def test_wsd_matches_pytorchs_sequential_composition(shape):
    """PyTorch has no WSD; its SequentialLR(LinearLR warmup, ConstantLR, LinearLR | CosineAnnealingLR) is the same
    curve for these two shapes (numbers from tests/reference/make_torch_references.py)."""
    from pathlib import Path
    reference = json.loads((Path(__file__).parents[1] / "reference" / "torch_references.json").read_text())["wsd"]
    assert reference["run"] == {"steps_per_epoch": SPE, "epochs": EPOCHS, "lr": LR, "warmup_epochs": 5,
                                "warmup_factor": 0.01, "decay_fraction": 0.2}
    ours = curve_of("scheduler=wsd", f"scheduler.lr_scheduler.decay_shape={shape}", "scheduler.lr_scheduler.warmup_factor=0.01")
    bad = [(s, a, b) for s, (a, b) in enumerate(zip(ours, reference[shape])) if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)]
    assert len(ours) == len(reference[shape]) == T and not bad, bad[:3]


@pytest.mark.parametrize("epochs", [1, 3])
@pytest.mark.parametrize("schedule", [s for s in SCHEDULES if s != "wsd"])  # wsd: warmup in epochs on
# purpose, so runs of every length share one stable phase (forked cooldowns); a 1-epoch run cannot hold it
def test_every_preset_scales_with_the_run_and_reaches_its_base_lr(schedule, epochs):
    curve = curve_of(f"scheduler={schedule}", f"trainer.max_epochs={epochs}")  # lengths in % of the run
    assert len(curve) == epochs * SPE and max(curve) >= 0.9 * LR


def test_a_share_of_the_run_is_that_part_of_trainer_max_epochs_in_steps_or_whole_epochs():
    def lr_scheduler_args(*overrides):
        return build(compose_run(*overrides)).describe()["lr_scheduler"]["args"]

    assert lr_scheduler_args("scheduler=step", "trainer.max_epochs=10")["step_size"] == 3 * SPE  # 30% of 10 epochs
    assert lr_scheduler_args("scheduler=multistep", "trainer.max_epochs=15")["milestones"] == [23, 45, 60]  # 4.5, 9, 12 epochs
    per_epoch = lr_scheduler_args("scheduler=step", "scheduler.interval=epoch", "trainer.max_epochs=15")
    assert per_epoch["step_size"] == 5  # 4.5 epochs: whole epochs, halves rounded up
    assert lr_scheduler_args("scheduler=step", "scheduler.lr_scheduler.step_size=7", "trainer.max_epochs=15")["step_size"] == 7 * SPE
