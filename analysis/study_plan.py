"""Each schedule's plan checked against its run length before a study spends any compute.

A schedule name resolves to a config (`experiment=digits_step`, or `experiment=digits scheduler=step`); its
lengths may not fit in the study's run (`step_size: 5` epochs in a 5-epoch run keeps the LR constant, so "step"
would be the constant schedule under another name). `check_plans` composes every schedule's config, prints what it
resolves to, and refuses the study when a schedule's LR never changes over the run (schedulers.preview, the same
check train.py warns with). The composing and the preview import OneFlow, so they run in one child process
(`python -m analysis.study_plan`), which keeps the study process itself light.
"""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Callable

from analysis.study_spec import ROOT, StudySpec, _is_launcher_override, spec_overrides
from common.errors import ConfigError


def run_overrides(spec: StudySpec, schedule: str) -> list:
    """The overrides every run of `schedule` in the study shares (its LR and seed aside), without launcher choices."""
    return [*spec_overrides(spec, schedule), f"data.val_split={spec.val_split}",
            *(o for o in spec.overrides if not _is_launcher_override(o))]


def describe_plans(overrides_by_schedule: dict) -> dict:
    """{schedule: {overrides, scheduler, params, interval, epochs, steps_per_epoch, constant, target}} (imports OneFlow).

    target: the first of trainer.acc1_thresholds, a workload's validation target (conf/workload/)."""
    from omegaconf import OmegaConf

    from engine.config.compose import compose_config
    from engine.training.run import lr_never_changes, steps_per_epoch

    plans = {}
    for schedule, overrides in overrides_by_schedule.items():
        cfg = compose_config(*overrides)
        params = OmegaConf.to_container(cfg.scheduler.get("lr_scheduler") or {}, resolve=True)
        plans[schedule] = {"overrides": overrides, "scheduler": cfg.scheduler.get("name") or "custom",
                           "class": str(params.pop("_target_", "")).rsplit(".", 1)[-1], "params": params,
                           "interval": cfg.scheduler.get("interval"), "epochs": int(cfg.trainer.max_epochs),
                           "steps_per_epoch": steps_per_epoch(cfg), "constant": lr_never_changes(cfg),
                           "target": (list(cfg.trainer.acc1_thresholds) or [None])[0]}
    return plans


def plan_text(schedule: str, plan: dict) -> str:
    params = ", ".join(f"{k}={v}" for k, v in plan["params"].items() if not isinstance(v, (dict, list)))
    return (f"{schedule} runs as `{' '.join(plan['runs_as'])}`: "
            f"{plan['class'] or plan['scheduler']}({params}), per {plan['interval']}, over {plan['epochs']} epochs x "
            f"{plan['steps_per_epoch']} steps")


def check_plans(spec: StudySpec, say: Callable[[str], None] = print, python: str = sys.executable) -> dict:
    """Print what every schedule resolves to; refuse (ConfigError) a schedule that is constant over the study's run."""
    request = {schedule: run_overrides(spec, schedule) for schedule in spec.schedules}
    done = subprocess.run([python, "-m", "analysis.study_plan", json.dumps(request)], cwd=ROOT, capture_output=True,
                          text=True, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise ConfigError(f"the study's run config does not compose: {(done.stderr.strip().splitlines() or ['?'])[-1]} "
                          f"(overrides {' '.join(spec.overrides) or 'none'}; check them with python train.py --cfg job <overrides>).")
    plans = json.loads(lines[-1])
    for schedule in spec.schedules:
        plans[schedule]["runs_as"] = spec_overrides(spec, schedule)
    for schedule in spec.schedules:
        say(f"[study] {plan_text(schedule, plans[schedule])}")
    constant = [s for s in spec.schedules if plans[s]["constant"]]
    if constant:
        raise ConfigError(" ".join(f"{plan_text(s, plans[s])}, and {plans[s]['constant']}" for s in constant)
                          + " The study refuses it before spending any compute: lengthen the run (trainer.max_epochs), "
                            "use a schedule whose lengths are shares of the run, or leave it out of --schedules.")
    return plans


if __name__ == "__main__":  # the child of check_plans: one JSON line on stdout
    try:
        print(json.dumps(describe_plans(json.loads(sys.argv[1]))))
    except ConfigError as error:  # a bad override or a schedule that cannot be built: one line for the parent
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
