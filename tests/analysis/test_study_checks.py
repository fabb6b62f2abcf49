"""The study's checks that need no full study: plans checked against the run length before any compute (issue 30 #9),
one colour per schedule and identical curves marked (#10), machine faults re-run rather than ranked (#22), and no
import cycle between the study's modules (issue 31)."""
import ast
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from analysis import comparison, study, study_report
from scripts import study as study_script

ROOT = Path(__file__).resolve().parents[2]
DISK_FULL = "OSError: [Errno 28] No space left on device"


# ----------------------------------------------------------------------------- issue 30 #9: plans before compute

def test_a_schedule_constant_over_the_run_is_refused_before_any_run_and_each_name_says_what_it_runs(tmp_path, capsys):
    # digits_step's step_size is 5 epochs: in a 5-epoch run its LR never changes
    code = study_script.main(["--dir", str(tmp_path / "s"), "--schedules", "cosine,step", "--trials", "1", "--seeds", "1",
                              "trainer.max_epochs=5"])
    captured = capsys.readouterr()
    assert code == 2, captured.out + captured.err
    assert "[study] cosine runs as `experiment=digits_cosine`: CosineAnnealingLR(T_max=5" in captured.out
    assert "step runs as `experiment=digits_step`: StepLR(step_size=5" in captured.err
    assert "keeps the LR at" in captured.err and "before spending any compute" in captured.err
    assert not (tmp_path / "s" / "search").exists() and not (tmp_path / "s" / "study.json").exists()


# ----------------------------------------------------------------------------- issue 30 #10: colours

def _run(schedule: str, seed: int, lr: list) -> comparison.Run:
    return comparison.Run(name=f"{schedule}/seed={seed}", path=None, status="completed", schedule=schedule, seed=seed,
                          setting={"scheduler.name": schedule}, val_acc1=[(1, 50.0), (2, 60.0 + len(schedule))], lr=lr)


def test_every_figure_gives_a_schedule_the_same_colour_and_marks_identical_curves():
    from analysis.study_figures import schedule_colors, unify

    flat = [(0, 0.1), (1, 0.1), (2, 0.1)]
    runs = [_run("constant", 0, flat), _run("plateau", 0, flat), _run("cosine", 0, [(0, 0.1), (1, 0.05), (2, 0.0)])]
    colors = schedule_colors(["cosine", "plateau", "constant"])
    # comparison draws in its rows' (ranking) order: a colour per position, which differs between two rankings
    one = comparison.lr_figure([SimpleNamespace(setting=s) for s in ("constant", "plateau", "cosine")], runs)
    other = comparison.accuracy_figure([SimpleNamespace(setting=s) for s in ("cosine", "constant", "plateau")], runs)
    unify(one, colors)
    unify(other, colors)
    import matplotlib.colors as mcolors
    for fig, kind in ((one, "lr-{}-0"), (other, "curve-{}")):
        lines = {line.get_gid(): line for line in fig.axes[0].get_lines()}
        for schedule in colors:
            assert mcolors.to_hex(lines[kind.format(schedule)].get_color()) == mcolors.to_hex(colors[schedule])
    lr_lines = {line.get_gid(): line for line in one.axes[0].get_lines()}
    assert lr_lines["lr-plateau-0"].get_label() == "plateau (identical to constant)"  # drawn over it: dashed, named
    assert lr_lines["lr-plateau-0"].get_linestyle() != "-" and lr_lines["lr-constant-0"].get_linestyle() == "-"
    legend = [t.get_text() for t in one.axes[0].get_legend().get_texts()]
    assert "plateau (identical to constant)" in legend and "cosine" in legend


# ----------------------------------------------------------------------------- issue 30 #22: machine faults

def _summary(run_dir: Path, **fields) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "summary.json").write_text(json.dumps(fields))


def test_a_seed_run_that_failed_for_its_machine_runs_again_and_a_config_failure_does_not(tmp_path, monkeypatch):
    spec = study.StudySpec(study_dir=tmp_path, schedules=["cosine"], seeds=3)
    seeds = tmp_path / "seeds" / "cosine"
    _summary(seeds / "seed=0", status="failed", error=DISK_FULL)
    _summary(seeds / "seed=1", status="completed", test_acc1=90.0)
    _summary(seeds / "seed=2", status="failed", error="ConfigError: model.width=-1 must be positive")
    pending = []
    monkeypatch.setattr(study, "run_jobs", lambda spec, jobs, *a, **k: pending.extend(jobs))
    study.seed_runs(spec, {"cosine": 0.1}, study.Progress(spec, lambda line: None))
    assert [job.seed for job in pending] == [0]


def test_a_search_trial_lost_to_a_full_disk_runs_again_and_the_tuned_lr_is_not_picked_among_survivors(tmp_path, monkeypatch):
    import optuna
    from optuna.distributions import LogUniformDistribution
    from optuna.trial import TrialState

    spec = study.StudySpec(study_dir=tmp_path, schedules=["cosine"], trials=2)
    low, high = study.lr_plan(2, 0.005, 1.0)
    store = study.optuna_study(spec, "cosine")
    for lr, value, state, status in ((low, 80.0, TrialState.COMPLETE, "completed"), (high, None, TrialState.FAIL, "failed")):
        run_dir = tmp_path / "search" / "cosine" / f"lr={lr!r}"
        _summary(run_dir, status=status, final_acc1=value, **({"error": DISK_FULL} if value is None else {}))
        # recorded the way the study did before machine faults were told apart: a failed trial, no error attribute
        store.add_trial(optuna.trial.create_trial(params={"lr": lr}, distributions={"lr": LogUniformDistribution(0.005, 1.0)},
                                                  value=value, state=state, user_attrs={"status": status, "run_dir": str(run_dir)}))
    rerun = []

    def run_jobs(spec, jobs, on_finished, *args, **kwargs):  # the re-run completes, scoring higher than the survivor
        for job in jobs:
            rerun.append(job.lr)
            _summary(job.run_dir, status="completed", final_acc1=95.0)
            on_finished(job, json.loads((job.run_dir / "summary.json").read_text()))

    monkeypatch.setattr(study, "run_jobs", run_jobs)
    tuned = study.search(spec, study.Progress(spec, lambda line: None))
    assert rerun == [high] and tuned == {"cosine": high}


def test_a_machine_fault_during_the_study_stops_it_to_run_again_and_the_report_names_both_kinds(tmp_path, monkeypatch):
    spec = study.StudySpec(study_dir=tmp_path, schedules=["cosine"], seeds=2)

    def run_jobs(spec, jobs, on_finished, *args, **kwargs):
        for job in jobs:
            fields = {"status": "failed", "error": DISK_FULL} if job.seed == 1 else {"status": "completed"}
            _summary(job.run_dir, **fields)
            on_finished(job, fields)

    monkeypatch.setattr(study, "run_jobs", run_jobs)
    with pytest.raises(study.StudyRunError, match="1 seed run\\(s\\) of cosine failed for their machine"):
        study.seed_runs(spec, {"cosine": 0.1}, study.Progress(spec, lambda line: None))
    faults = study.read_faults(tmp_path)
    assert [(f["schedule"], f["seed"], f["error"]) for f in faults] == [("cosine", 1, DISK_FULL)]
    text = study_report.fault_text({"cosine": [{"lr": 1.0, "value": None, "status": "diverged"}]}, faults)
    assert "**Failed runs that are results** (a divergence, or a failure the config caused" in text
    assert ": 1: cosine lr=1 (diverged)." in text
    assert ("**Machine faults** (disk full, out of memory, I/O: not results; each such run ran again and only its "
            f"re-run counts): 1: seeds cosine seed 1 ({DISK_FULL}).") in text


# ----------------------------------------------------------------------------- issue 31: no import cycle

def _imports(path: Path) -> set:
    """Every project module `path` imports, at the top or inside a function (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_import_cycle_among_the_analysis_modules():
    modules = {f"analysis.{p.stem}": p for p in (ROOT / "analysis").glob("*.py") if p.stem != "__init__"}
    graph = {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}

    def reaches(start: str, goal: str, seen: set) -> bool:
        return any(n == goal or (n not in seen and not seen.add(n) and reaches(n, goal, seen)) for n in graph[start])

    cycles = sorted(name for name in graph if reaches(name, name, set()))
    assert not cycles, f"modules on an import cycle: {cycles}"


def test_a_run_whose_process_was_killed_is_named_as_a_machine_fault_and_runs_again(tmp_path):
    from analysis.study_runs import Job, run_jobs

    spec = study.StudySpec(study_dir=tmp_path, schedules=["cosine"])
    job = Job("seeds", "cosine", 0.1, 0, tmp_path / "seeds" / "cosine" / "seed=0")
    killer = tmp_path / "killed.sh"  # a 'python' whose train.py is killed at once, as the out-of-memory killer does
    killer.write_text("#!/bin/sh\nkill -9 $$\n")
    killer.chmod(0o755)
    with pytest.raises(study.StudyRunError, match="did not finish"):
        run_jobs(spec, [job], lambda job, summary: None, tmp_path / "logs" / "seeds.log", python=str(killer))
    assert [(f["seed"], f["error"]) for f in study.read_faults(tmp_path)] == [
        (0, "train.py exited -9 with the run unfinished (killed, e.g. out of memory)")]


# ----------------------------------------------------------------------------- issue 28: phases fan out

def test_fanned_out_tasks_run_at_once_and_give_their_results_in_order():
    import threading
    import time

    from analysis.study_runs import fan_out

    both_started = threading.Barrier(2, timeout=10)  # passes only if the two tasks run at the same time

    def task(value):
        def run():
            both_started.wait()
            time.sleep(0.05 * (3 - value))  # the first finishes last: results still come back in order
            return value
        return run

    assert fan_out([task(1), task(2)], parallel=2) == [1, 2]
    assert fan_out([lambda: "a", lambda: "b"], parallel=1) == ["a", "b"]  # 1: one after the other, in this thread


def test_a_failed_phase_stops_the_phases_running_beside_it_and_their_runs_are_not_machine_faults(tmp_path):
    import time

    from analysis.study_runs import Job, fan_out, run_jobs

    spec = study.StudySpec(study_dir=tmp_path, schedules=["cosine", "step"])
    job = Job("seeds", "step", 0.1, 0, tmp_path / "seeds" / "step" / "seed=0")
    sleeper = tmp_path / "slow.sh"  # a 'python' whose train.py runs for a minute
    sleeper.write_text("#!/bin/sh\nexec sleep 60\n")
    sleeper.chmod(0o755)

    def fails():
        time.sleep(0.5)
        raise study.StudyRunError("every search trial of cosine diverged")

    started = time.time()
    with pytest.raises(study.StudyRunError, match="every search trial of cosine diverged"):
        fan_out([fails, lambda: run_jobs(spec, [job], lambda job, summary: None, tmp_path / "logs" / "s.log",
                                         python=str(sleeper))], parallel=2)
    assert time.time() - started < 30  # the minute-long run was stopped, not waited for
    assert study.read_faults(tmp_path) == []  # stopped by the study: it resumes next time, no machine fault


def test_schedules_fanned_out_tune_the_same_lrs_and_run_the_same_seeds_as_one_after_the_other(tmp_path, monkeypatch):
    def run_jobs(spec, jobs, on_finished, *args, **kwargs):  # a score that depends on the schedule and the LR only
        for job in jobs:
            fields = {"status": "completed", "final_acc1": 50 + 10 * job.lr * (2 if job.schedule == "step" else 1),
                      "test_acc1": 60.0 + job.seed}
            _summary(job.run_dir, **fields)
            on_finished(job, fields)

    monkeypatch.setattr(study, "run_jobs", run_jobs)
    tuned = {}
    for parallel in (1, 3):
        spec = study.StudySpec(study_dir=tmp_path / f"p{parallel}", schedules=["cosine", "step", "wsd"], trials=3, seeds=2)
        spec.study_dir.mkdir()
        tuned[parallel] = study.search_and_seeds(spec, study.Progress(spec, lambda line: None), parallel=parallel)
        assert sorted(p.name for p in (tmp_path / f"p{parallel}" / "seeds" / "wsd").iterdir()) == ["seed=0", "seed=1"]
    assert tuned[1] == tuned[3] and set(tuned[3]) == {"cosine", "step", "wsd"}


def test_a_study_directory_with_an_equals_sign_is_one_sweep_dir_override(tmp_path):
    """--budgets puts the studies in <dir>/<workload>/budget=<b>/: Hydra refused the sweep's unquoted
    `hydra.sweep.dir=.../budget=2/...` ("mismatched input '='"), so no budget ever ran."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from analysis.study_runs import Job, _sweep_command

    spec = study.StudySpec(study_dir=tmp_path / "digits_mlp" / "budget=2" / "study0", schedules=["cosine"])
    job = Job("search", "cosine", 0.1, 0, spec.study_dir / "search" / "cosine" / "lr=0.1")
    command = _sweep_command(spec, "cosine", [job], "python")
    overrides = {o.key_or_group: o.value() for o in OverridesParser.create().parse_overrides(command[3:])}
    assert overrides["hydra.sweep.dir"] == str((spec.study_dir / "search" / "cosine").resolve())
