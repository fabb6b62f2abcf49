"""A schedule study over workloads (scripts/study.py --workloads), after MLCommons AlgoPerf's protocol.

    python scripts/study.py --dir multiruns/suite --workloads digits_tiny,digits_wrn,digits_mlp \\
        --schedules cosine,step,wsd,linear_to_zero --studies 3 --trials 5 --seeds 3

Per workload (conf/workload/<name>.yaml: data, model, augmentation, batch, epochs and a validation target) and, with
--budgets, per run length, S independent studies (search seeds 0..S-1: each its own scrambled-Halton LR plan, the same
plan for every schedule) of K trials, then N seeds at each study's tuned LR. Each (workload, budget, study) is one
analysis.study study in <dir>/<workload>/[budget=<b>/]study<s>/, its Optuna studies named `lr_<workload>/<budget>/s<s>/
<schedule>` in one SQLite storage (<dir>/optuna.db), so the whole suite resumes like one study.

The baseline's search runs first on every workload: a workload whose target its own tuned baseline cannot reach (in
the median study) is refused with one paragraph, before the other schedules spend anything on it. Then every study
runs its search, seeds and report, and analysis.workload_report scores the suite (steps to target, performance
profiles, the benchmark score, speedups, Kendall tau, the verdict).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from analysis import study as one
from analysis import study_report
from analysis.study_plan import check_plans
from analysis.study_runs import Progress, _duration, _exit_on_sigterm, fan_out
from analysis.study_spec import StudySpec, check_spec, known_workloads, save_spec
from analysis.study_trials import optuna_study, recorded_trials, tuned_lr
from common.errors import ConfigError
from engine.run_dir.summary import read_summary


@dataclass
class SuiteSpec:
    """A study over workloads: S studies x K trials per workload (and budget) and schedule, then N seeds."""

    study_dir: Path
    workloads: list
    schedules: list
    studies: int = 3
    trials: int = 5
    seeds: int = 3
    lr_low: float = 0.005
    lr_high: float = 1.0
    val_split: float = 0.2
    objective: str = "final_acc1"
    baseline: str = "cosine"
    budgets: list = field(default_factory=list)  # epochs; empty: each workload's own length
    overrides: list = field(default_factory=list)
    storage: Optional[str] = None
    report_dir: Optional[Path] = None

    @property
    def storage_url(self) -> str:
        return self.storage or f"sqlite:///{(Path(self.study_dir) / 'optuna.db').resolve()}"


@dataclass
class Member:
    """One study of the suite: its workload, budget (None: the workload's own), search seed and StudySpec."""

    workload: str
    budget: Optional[int]
    study: int
    spec: StudySpec

    @property
    def instance(self) -> str:
        """The scored unit: a workload, or a workload at a budget ("digits_tiny@4ep")."""
        return self.workload if self.budget is None else f"{self.workload}@{self.budget}ep"


def members(suite: SuiteSpec) -> list:
    found = []
    for workload in suite.workloads:
        for budget in suite.budgets or [None]:
            for s in range(suite.studies):
                where = Path(suite.study_dir) / workload / ("" if budget is None else f"budget={budget}") / f"study{s}"
                spec = StudySpec(study_dir=where, schedules=list(suite.schedules), trials=suite.trials, seeds=suite.seeds,
                                 lr_low=suite.lr_low, lr_high=suite.lr_high, val_split=suite.val_split,
                                 objective=suite.objective, plan_seed=s, storage=suite.storage_url, workload=workload,
                                 overrides=[*suite.overrides, *([] if budget is None else [f"trainer.max_epochs={budget}"])],
                                 name_prefix=f"{workload}/{budget or ''}/s{s}/")
                found.append(Member(workload, budget, s, spec))
    return found


def check_suite(suite: SuiteSpec) -> None:
    """Refuse a suite that cannot run, naming the bad value and what would be valid (ConfigError: exit 2)."""
    if not suite.workloads:
        raise ConfigError(f"--workloads is empty; name conf/workload/ files, e.g. {','.join(known_workloads()[:3])}.")
    if len(set(suite.workloads)) != len(suite.workloads):
        raise ConfigError(f"--workloads {','.join(suite.workloads)} names a workload twice; name each once.")
    if suite.baseline not in suite.schedules:
        raise ConfigError(f"--baseline {suite.baseline} is not one of --schedules {','.join(suite.schedules)}: the "
                          f"speedups and the target check are against it, so it must run too.")
    if suite.studies < 1:
        raise ConfigError(f"--studies {suite.studies} must be at least 1 (AlgoPerf uses 5; 3 or more measure stability).")
    if any(not isinstance(b, int) or b < 1 for b in suite.budgets):
        raise ConfigError(f"--budgets {','.join(map(str, suite.budgets))} must be whole numbers of epochs >= 1, e.g. 4,8,16.")


def save_suite(suite: SuiteSpec) -> None:
    from common.files import atomic_write_text

    defining = {k: v for k, v in dataclasses.asdict(suite).items() if k not in ("study_dir", "storage", "report_dir")}
    Path(suite.study_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(suite.study_dir) / "suite.json", json.dumps(defining, indent=2, default=str) + "\n")


def tuned_trial_history(member: Member, schedule: str) -> list:
    """The validation top-1 per epoch of the tuned trial of `schedule` in `member` ([] when none)."""
    trials = list(recorded_trials(optuna_study(member.spec, schedule)).values())
    lr = tuned_lr(trials)
    chosen = next((t for t in trials if float(t.params["lr"]) == lr), None)
    summary = read_summary(Path(chosen.user_attrs.get("run_dir", ""))) if chosen is not None else None
    return list(((summary or {}).get("history") or {}).get("val/acc1") or [])


def refuse_unreachable_targets(suite: SuiteSpec, all_members: list, targets: dict) -> None:
    """One paragraph per workload (and budget) whose tuned baseline does not reach its own target in the median study."""
    refused = []
    for instance in dict.fromkeys(m.instance for m in all_members):
        group = [m for m in all_members if m.instance == instance]
        target = targets[instance]
        histories = [tuned_trial_history(m, suite.baseline) for m in group]
        reached = [max(h, default=0.0) >= target for h in histories]
        if sum(reached) * 2 <= len(reached):  # not in a majority of the studies: the median study does not reach it
            best = max((max(h, default=0.0) for h in histories), default=0.0)
            refused.append(f"workload {instance}: its target of {target:g} % validation top-1 is out of reach of its own "
                           f"tuned baseline ({suite.baseline} reached at most {best:.2f} % in {len(group)} studies, the "
                           f"target in {sum(reached)}); steps to it would be infinite for every schedule and say nothing. "
                           f"Lower trainer.acc1_thresholds in conf/workload/{instance.split('@')[0]}.yaml, or train longer.")
    if refused:
        raise ConfigError(" ".join(refused))


def _tagged(say: Callable[[str], None], tag: str) -> Callable[[str], None]:
    """`say`, with the study's workload and search seed after "[study]": lines of studies running at once interleave."""
    return lambda line: say(line.replace("[study] ", f"[study] {tag}: ", 1))


def run_suite(suite: SuiteSpec, say: Callable[[str], None] = print, python: str = sys.executable, parallel: int = 1) -> Path:
    """The whole suite (plans, baseline searches, target check, studies, scores and report), resumable. `parallel`:
    how many multiruns (of any workload, study and schedule) may run at once (analysis.study_runs.fan_out)."""
    from analysis import workload_report

    check_suite(suite)
    all_members = members(suite)
    for member in all_members:
        check_spec(member.spec)
    plans, targets = {}, {}
    for member in all_members:  # every schedule on every workload and budget, before any compute
        if member.instance not in plans:
            plans[member.instance] = check_plans(member.spec, say, python)
            targets[member.instance] = plans[member.instance][suite.baseline]["target"]
            if targets[member.instance] is None:
                raise ConfigError(f"workload {member.workload} sets no target: give conf/workload/{member.workload}.yaml "
                                  f"trainer.acc1_thresholds: [<validation top-1 %>].")
    save_suite(suite)
    _exit_on_sigterm()
    started = time.time()
    progress = {id(m): Progress(m.spec, _tagged(say, f"{m.instance} s{m.study}")) for m in all_members}
    for member in all_members:
        save_spec(member.spec)
    say(f"[suite] the {suite.baseline} search of every workload and study first (the target check needs it)")
    fan_out([functools.partial(one.search_schedule, m.spec, suite.baseline, progress[id(m)], python) for m in all_members],
            parallel)
    refuse_unreachable_targets(suite, all_members, targets)
    say("[suite] every study's searches and seeds")
    tuned = fan_out([functools.partial(one.search_and_seeds, m.spec, progress[id(m)], python) for m in all_members]
                    if parallel <= 1 else
                    [functools.partial(one.search_then_seeds, m.spec, s, progress[id(m)], python)
                     for m in all_members for s in m.spec.schedules], parallel)
    if parallel > 1:  # one tuned LR per (member, schedule) task: back to one {schedule: lr} per member
        lrs = iter(tuned)
        tuned = [{s: next(lrs) for s in m.spec.schedules} for m in all_members]
    for member, member_tuned in zip(all_members, tuned):
        study_report.write(member.spec, member_tuned, plans[member.instance])
    report = workload_report.write(suite, all_members, targets)
    say(f"[suite] done in {_duration(time.time() - started)}: {report}")
    return report

