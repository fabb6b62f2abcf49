"""scripts/study.py --workloads: the workload configs compose, a tiny suite runs end to end (S = 2 studies on two
workloads, one epoch), its report renders the profile and the tables in headless Chromium, and a target the tuned
baseline cannot reach is refused with one paragraph."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config.compose import compose_config
from tests.support.browser import headless_chromium

ROOT = Path(__file__).resolve().parents[2]
CPU_SUITE = ["digits_tiny", "digits_wrn", "digits_mlp", "digits_tiny_wide", "digits_tiny_noaug", "digits_mlp_noaug"]
GPU_SUITE = {"cifar100_resnet18": ("models.resnet.resnet18", 75), "cifar100_wrn28_10": ("models.resnet.wide_resnet", 79),
             "cifar100_mobilenetv2": ("models.mobilenetv2.mobilenetv2", 66)}
# CI budget: the two MLP workloads (seconds per run), two schedules, two studies of two trials, one seed each, one
# epoch, a target one epoch reaches (the MLP: about 70 % after one epoch even at the plan's lowest LR)
TINY = ["--workloads", "digits_mlp,digits_mlp_noaug", "--schedules", "cosine,linear_to_zero", "--studies", "2", "--trials", "2",
        "--seeds", "1", "trainer.max_epochs=1", "trainer.acc1_thresholds=[50]"]


def study(study_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "study.py"), "--dir", str(study_dir), *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=1500)


@pytest.mark.parametrize("workload", CPU_SUITE)
def test_every_cpu_workload_composes_on_digits_with_a_target(workload):
    cfg = compose_config(f"+workload={workload}", "scheduler=cosine")
    assert cfg.data.num_classes == 10 and cfg.data.train_size == 1437  # data=digits
    assert cfg.trainer.acc1_thresholds[0] >= 80 and cfg.trainer.max_epochs >= 4


def test_the_cpu_suite_has_three_models_and_two_held_out_variants():
    from analysis.workload_report import held_out

    models = {compose_config(f"+workload={w}").model._target_ for w in CPU_SUITE if not held_out(w)}
    assert models == {"models.tiny.TinyCNN", "models.resnet.wide_resnet", "models.mlp.MLP"}
    assert [w for w in CPU_SUITE if held_out(w)] == ["digits_tiny_wide", "digits_tiny_noaug", "digits_mlp_noaug"]
    assert compose_config("+workload=digits_tiny_wide").model.width == 32
    assert compose_config("+workload=digits_tiny_noaug").data.augment.crop_padding == 0


@pytest.mark.parametrize("workload", sorted(GPU_SUITE))
def test_the_gpu_suite_composes_cifar100_with_its_model_and_target(workload):
    cfg = compose_config(f"+workload={workload}", "scheduler=cosine")
    model, target = GPU_SUITE[workload]
    assert cfg.model._target_ == model and cfg.data.num_classes == 100 and cfg.trainer.max_epochs == 200
    assert list(cfg.trainer.acc1_thresholds) == [target] and cfg.data.batch_size == 128


@pytest.fixture(scope="module")
def tiny_suite(tmp_path_factory):
    study_dir = tmp_path_factory.mktemp("suite") / "s"
    done = study(study_dir, *TINY, "--parallel", "2")  # two multiruns at once (analysis.study_runs.fan_out)
    assert done.returncode == 0, done.stdout + done.stderr
    return study_dir, done.stdout


def test_the_suite_runs_s_studies_per_workload_and_scores_them(tiny_suite):
    study_dir, output = tiny_suite
    assert "[study] linear_to_zero runs as `+workload=digits_mlp scheduler=linear_to_zero`: LinearLR(" in output
    for workload in ("digits_mlp", "digits_mlp_noaug"):
        for s in (0, 1):
            assert (study_dir / workload / f"study{s}" / "report" / "reproduction.json").is_file()
    import optuna
    names = sorted(x.study_name for x in optuna.get_all_study_summaries(f"sqlite:///{study_dir / 'optuna.db'}"))
    assert len(names) == 2 * 2 * 2 and "lr_digits_mlp//s1/cosine" in names  # workloads x studies x schedules, one db
    data = json.loads((study_dir / "report" / "workloads.json").read_text())
    assert [i["name"] for i in data["instances"]] == ["digits_mlp", "digits_mlp_noaug"]
    for instance in data["instances"]:
        for schedule, steps in instance["steps"].items():  # one epoch: the target is reached at its end, or never
            seed_run = json.loads((study_dir / instance["name"] / "study0" / "seeds" / schedule / "seed=0" / "summary.json").read_text())
            assert steps is None or steps == seed_run["global_step"]
        assert len(instance["taus"]) == 1  # two studies: one pair
    assert set(data["score"]) == {"cosine", "linear_to_zero"} and all(0 <= b <= 1 for b in data["score"].values())
    md = (study_dir / "report" / "workloads.md").read_text()
    assert "**Verdict.**" in md and "geometric-mean speedup vs cosine" in md and "Kendall tau between the 1 pair of studies" in md
    assert re.search(r"\d+ training runs, \d+ optimizer steps", md) and "**Where.** Backend oneflow 0.9.0. CPU " in md
    # resumable: the same command again runs nothing and gives the same scores
    again = study(study_dir, *TINY)
    finished = [line for line in again.stdout.splitlines() if re.match(r"\[study\] digits_mlp(_noaug)? s[01]: (search|seeds) ", line)]
    for tag in ("digits_mlp s0", "digits_mlp s1", "digits_mlp_noaug s0", "digits_mlp_noaug s1"):  # each line says its study
        for phase in ("search cosine", "search linear_to_zero", "seeds cosine", "seeds linear_to_zero"):
            assert any(line.startswith(f"[study] {tag}: {phase} ") for line in finished), (tag, phase, again.stdout)
    assert again.returncode == 0 and finished and all("(done before)" in line for line in finished), again.stdout
    assert json.loads((study_dir / "report" / "workloads.json").read_text())["score"] == data["score"]


def test_the_suite_report_draws_the_profiles_and_tables_in_chromium(tiny_suite, tmp_path):
    from selenium.webdriver.common.by import By

    study_dir, _ = tiny_suite
    page = study_dir / "report" / "report.html"
    assert not re.search(r"""(src|href)=["'](https?:|//)""", page.read_text())
    driver = headless_chromium(tmp_path / "profile")
    try:
        driver.get(page.as_uri())
        data = json.loads(driver.find_element(By.ID, "suite-data").get_attribute("textContent"))
        drawn = []  # (rho, y in pixels) of every corner of every profile
        for schedule, rho in data["profiles"].items():
            path = driver.find_element(By.CSS_SELECTOR, f"#profile g[id='profile-{schedule}'] path")
            ys = [float(y) for y in re.findall(r"[ML]\s*[-\d.e]+\s+([-\d.e]+)", path.get_attribute("d"))]
            assert len(ys) == 2 * len(rho) - 1  # steps-post: two corners per tau of the grid but the first
            drawn += [(rho[j // 2], y) for j, y in enumerate(ys)]
            red, green, blue = (int(data["colors"][schedule][i:i + 2], 16) for i in (1, 3, 5))
            assert path.value_of_css_property("stroke") == f"rgb({red}, {green}, {blue})"  # the schedule's one colour
        # every drawn height is the same affine function of rho (one y axis): the page draws the data it holds
        levels = sorted({r for r, _ in drawn})
        y_of = {r: {round(y, 3) for rr, y in drawn if rr == r} for r in levels}
        assert all(len(ys) == 1 for ys in y_of.values())
        if len(levels) > 1:
            (r0, y0), (r1, y1) = [(r, next(iter(y_of[r]))) for r in (levels[0], levels[-1])]
            assert all(abs(next(iter(y_of[r])) - (y0 + (r - r0) * (y1 - y0) / (r1 - r0))) < 0.01 for r in levels)
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")] for tr in driver.find_elements(By.CSS_SELECTOR, "table tbody tr")]
        per_workload = {r[0]: r for r in rows if r[0] in ("digits_mlp", "digits_mlp_noaug")}
        for instance in data["instances"]:
            shown = per_workload[instance["name"]]
            assert shown[2] == f"{instance['target']:g} %"
            assert shown[3:5] == ["∞" if v is None else f"{v:.0f}" for v in instance["steps"].values()]
        scores = {r[0]: r for r in rows if r[0] in data["score"]}
        for schedule, b in data["score"].items():
            assert scores[schedule][1] == f"{b:.3f}"
        assert driver.find_element(By.TAG_NAME, "body").text.count("Verdict.") == 1
    finally:
        driver.quit()


def test_a_target_the_tuned_baseline_cannot_reach_is_refused_with_one_paragraph(tmp_path):
    done = study(tmp_path / "s", "--workloads", "digits_mlp", "--schedules", "cosine,linear_to_zero", "--studies", "1",
                 "--trials", "1", "--seeds", "1", "trainer.max_epochs=1", "trainer.acc1_thresholds=[99.9]")
    assert done.returncode == 2, done.stdout + done.stderr
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("error: workload digits_mlp: its target of 99.9 % validation top-1 is out of reach of its own "
                            "tuned baseline (cosine reached at most")
    assert "Lower trainer.acc1_thresholds in conf/workload/digits_mlp.yaml" in error
    assert not (tmp_path / "s" / "digits_mlp" / "study0" / "search" / "linear_to_zero").exists()  # nothing else ran


@pytest.mark.parametrize("args, message", [
    (["--workloads", "digits_tiny,nope"], "workload 'nope' is not in conf/workload/"),
    (["--workloads", "digits_tiny", "--baseline", "step"], "--baseline step is not one of --schedules"),
    (["--workloads", "digits_tiny", "--studies", "0"], "--studies 0 must be at least 1"),
])
def test_bad_suite_input_is_one_paragraph_and_exit_2(tmp_path, capsys, args, message):
    from scripts import study as study_script

    assert study_script.main(["--dir", str(tmp_path / "s"), "--schedules", "cosine,linear_to_zero", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_the_verdict_across_workloads_needs_the_profiles_and_the_tests_to_agree():
    from analysis.workload_report import Instance, overall_verdict

    def instance(name, *winners):
        return Instance(name, name, None, 90.0, False, winners=list(winners))

    both_cosine = [instance("w1", "cosine", "cosine"), instance("w2", "cosine", "cosine")]
    assert overall_verdict(both_cosine, {"cosine": 0.9, "step": 0.5}).startswith("**cosine is better across these workloads**")
    # the tests name cosine everywhere, but the profile score leads with step: they disagree
    assert overall_verdict(both_cosine, {"cosine": 0.5, "step": 0.9}).startswith("**It depends on the workload**")
    # a tie at the top of the score is no single leader
    assert overall_verdict(both_cosine, {"cosine": 0.9, "step": 0.9}).startswith("**It depends on the workload**")
    unreplicated = instance("w2", "step", "cosine")
    assert unreplicated.verdict == "not replicated: the studies name step, cosine" and unreplicated.winner is None
    assert overall_verdict([both_cosine[0], unreplicated], {"cosine": 0.9, "step": 0.5}).startswith("**It depends")
    nobody = [instance("w1", None, None), instance("w2", None, None)]
    assert nobody[0].verdict == "no clear winner"
    assert overall_verdict(nobody, {"cosine": 0.9, "step": 0.5}).startswith("**No clear winner on any workload**")


def test_budgets_make_one_instance_per_workload_and_budget_each_tuned_at_its_length(tmp_path):
    from analysis.workload_study import SuiteSpec, members

    suite = SuiteSpec(study_dir=tmp_path, workloads=["digits_mlp"], schedules=["cosine", "step"], studies=2, budgets=[4, 8])
    found = members(suite)
    assert [(m.instance, m.study) for m in found] == [("digits_mlp@4ep", 0), ("digits_mlp@4ep", 1), ("digits_mlp@8ep", 0),
                                                      ("digits_mlp@8ep", 1)]
    assert found[2].spec.overrides == ["trainer.max_epochs=8"] and found[2].spec.plan_seed == 0
    assert found[3].spec.study_dir == tmp_path / "digits_mlp" / "budget=8" / "study1"
    assert len({m.spec.name_prefix for m in found}) == 4  # every study its own Optuna names in the one storage


def test_steps_to_target_come_from_each_seed_runs_history_median_over_seeds_then_studies(tmp_path):
    from analysis.workload_report import score_instance
    from analysis.workload_study import SuiteSpec, members

    suite = SuiteSpec(study_dir=tmp_path, workloads=["digits_mlp"], schedules=["cosine", "step"], studies=3, seeds=3)
    group = members(suite)
    histories = {  # per study, per schedule: the seeds' validation curves (10 steps per epoch); target 90
        0: {"cosine": [[80, 91], [92, 95], [85, 89]], "step": [[50, 60], [70, 95], [91, 92]]},
        1: {"cosine": [[91, 91], [92, 95], [85, 99]], "step": [[50, 60], [70, 80], [91, 92]]},
        2: {"cosine": [[80, 85], [80, 85], [85, 99]], "step": [[95, 96], [95, 96], [95, 96]]},
    }
    for member in group:
        for schedule, curves in histories[member.study].items():
            for seed, curve in enumerate(curves):
                run_dir = member.spec.study_dir / "seeds" / schedule / f"seed={seed}"
                run_dir.mkdir(parents=True)
                (run_dir / "summary.json").write_text(json.dumps({
                    "status": "completed", "epochs": 2, "global_step": 20, "test_acc1": curve[-1],
                    "history": {"val/acc1": curve, "test/acc1": curve}}))
    found = score_instance("digits_mlp", group, ["cosine", "step"], 90.0)
    # cosine: study medians 20 (20, 10, inf), 10 (10, 10, 20), inf (inf, inf, 20) -> median 20
    # step:   study medians 20 (inf, 20, 10), inf (inf, inf, 10), 10 (10, 10, 10) -> median of (20, inf, 10) = 20
    assert found.steps == {"cosine": 20, "step": 20}
    assert found.final_test["cosine"].n == 9 and found.best_test["step"].mean == pytest.approx((60 + 95 + 92 + 60 + 80 + 92 + 96 * 3) / 9)
    assert len(found.rankings) == 3 and len(found.taus) == 3


def test_the_budgets_figure_draws_each_schedule_against_the_budget_in_its_colour():
    import matplotlib.colors as mcolors

    from analysis import stats
    from analysis.study_figures import schedule_colors
    from analysis.workload_report import Instance, budgets_figure

    instances = [Instance(f"w@{b}ep", "w", b, 90.0, False, final_test={"cosine": stats.spread([80.0 + b, 82.0 + b]),
                                                                      "step": stats.spread([79.0 + b, 83.0 + b])})
                 for b in (4, 8, 16)]
    colors = schedule_colors(["cosine", "step"])
    fig = budgets_figure(instances, ["cosine", "step"], colors)
    lines = {line.get_gid(): line for line in fig.axes[0].get_lines()}
    assert list(lines["budget-cosine-w"].get_xdata()) == [4, 8, 16]
    assert list(lines["budget-cosine-w"].get_ydata()) == [85.0, 89.0, 97.0]  # the means over the seed runs
    assert mcolors.to_hex(lines["budget-step-w"].get_color()) == mcolors.to_hex(colors["step"])


def test_the_protocol_says_where_steps_to_target_were_measured():
    from analysis.workload_report import evaluations

    assert evaluations([]) == "epoch end"
    assert evaluations(["backend=torch", "trainer.val_every_n_steps=0"]) == "epoch end"
    assert evaluations(["trainer.val_every_n_steps=6"]) == "validation (every 6 optimizer steps and at each epoch end)"
    assert evaluations(["trainer.val_every_n_steps=6", "trainer.val_every_n_steps=4"]).startswith("validation (every 4 ")
