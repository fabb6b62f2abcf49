"""scripts/study.py: the one-command schedule study at a tiny budget on data=digits (CI), killed and continued, and
its report in headless Chromium; plus the parts that need no training (plan, tie-break, bad input, reproduction)."""
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analysis import study, study_report
from scripts import study as study_script
from tests.support.browser import headless_chromium

ROOT = Path(__file__).resolve().parents[2]
# The committed study's command at a CI budget: two schedules, two search trials, two seeds, one epoch.
TINY = ["--schedules", "constant,cosine", "--trials", "2", "--seeds", "2", "trainer.max_epochs=1"]


def run_study(study_dir: Path, *extra: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "study.py"), "--dir", str(study_dir), *TINY, *extra],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **popen)


def table(study_dir: Path) -> list:
    """comparison.csv without the columns that measure time (they differ between any two runs)."""
    rows = list(csv.DictReader((study_dir / "report" / "comparison.csv").open()))
    return [{k: v for k, v in row.items() if not k.startswith("wall_time")} for row in rows]


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory):
    study_dir = tmp_path_factory.mktemp("study") / "digits"
    process = run_study(study_dir)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output
    return study_dir, output


def test_the_study_command_runs_at_a_tiny_budget(tiny_study):
    study_dir, output = tiny_study
    # progress on the console: trials and seeds done / planned per schedule, elapsed, an estimate
    assert re.search(r"trials constant [12]/2, cosine 0/2 \| seeds constant 0/2, cosine 0/2 \| elapsed \d+m\d\ds, "
                     r"about \d+m\d\ds left \(", output), output
    assert "[study] constant: tuned lr=" in output and "done in" in output
    # search runs hold a validation split out of the training set; the seeds are scored on the test set
    summary = json.loads(next((study_dir / "search" / "cosine").glob("lr=*/summary.json")).read_text())
    assert summary["status"] == "completed" and "test_acc1" in summary
    seeds = sorted(p.parent.name for p in (study_dir / "seeds").glob("*/seed=*/summary.json"))
    assert seeds == ["seed=0", "seed=0", "seed=1", "seed=1"]
    # Optuna's SQLite storage holds every trial, one study per schedule
    import optuna
    storage = f"sqlite:///{study_dir / 'optuna.db'}"
    names = sorted(s.study_name for s in optuna.get_all_study_summaries(storage))
    assert names == ["lr_constant", "lr_cosine"]
    cosine = optuna.load_study(study_name="lr_cosine", storage=storage)
    assert sorted(t.params["lr"] for t in cosine.trials) == sorted(study.lr_plan(2, 0.005, 1.0))
    report = study_dir / "report"
    md = (report / "comparison.md").read_text()
    assert "the table reports the **test set**, which chose nothing" in md and "Power (the best row against the runner-up" in md
    assert {p.name for p in report.iterdir()} >= {"comparison.md", "comparison.csv", "study.md", "sensitivity.png",
                                                 "val_acc1.png", "lr.png", "reproduction.json", "report.html"}
    tuned = {row["schedule"]: row for row in csv.DictReader((report / "comparison.csv").open())}
    assert set(tuned) == {"constant", "cosine"}
    provenance = json.loads(next((study_dir / "seeds").glob("*/seed=0/run_info.json")).read_text())["started"]["environment"]["provenance"]
    assert provenance["cpu_model"] and "numpy" in provenance["versions"] and "scikit-learn" in provenance["versions"]


def test_a_killed_study_continues_without_rerunning_what_finished(tiny_study, tmp_path):
    """Killed in its last phase: every search trial and constant's seeds were done, cosine's seeds were not begun.

    The fixture's study, less cosine's seeds and the report, is that state (the study's runs and Optuna storage are its
    directory's: a copy is the same study); it goes on, is SIGKILLed once cosine's first seed is recorded (the second is
    running), and runs again: finished runs are read back (Optuna's trials, summary.json), not re-run, and the final
    table equals the uninterrupted fixture's."""
    reference, _ = tiny_study
    study_dir = tmp_path / "digits"
    shutil.copytree(reference, study_dir)
    for unfinished in (study_dir / "seeds" / "cosine", study_dir / "report", study_dir / "logs" / "seeds_cosine.log"):
        shutil.rmtree(unfinished) if unfinished.is_dir() else unfinished.unlink()
    process = run_study(study_dir, start_new_session=True)
    lines = []
    for line in process.stdout:  # kill it (SIGKILL, no cleanup) once the first seed of cosine is recorded
        lines.append(line)
        if line.startswith("[study] seeds cosine"):
            os.kill(process.pid, signal.SIGKILL)
            break
    process.wait(timeout=60)
    output = "".join(lines)
    assert output.count("(done before)") == 6, output  # 2 x 2 trials from Optuna's storage, constant's 2 seeds
    # The run it was in gets SIGTERM (PR_SET_PDEATHSIG) and stops, or ends first if it was at its last step: read
    # what finished only once nothing is left running (read earlier, a seed completing in between was miscounted).
    time.sleep(3)
    finished = {p.parent: p.read_bytes() for p in study_dir.glob("*/*/*/summary.json")
                if json.loads(p.read_text())["status"] == "completed"}
    assert len(finished) in (7, 8), output  # 7: cosine's second seed was stopped midway (8: it ended before it was)
    again = run_study(study_dir)
    output, _ = again.communicate(timeout=900)
    assert again.returncode == 0, output
    for run_dir, summary in finished.items():  # not re-run: same summary, reported as done before
        assert (run_dir / "summary.json").read_bytes() == summary
    for lr in study.lr_plan(2, 0.005, 1.0):
        assert f"lr={lr:g}: completed, validation final top-1" in output
    assert output.count("(done before)") == len(finished)
    if len(finished) == 7:  # the stopped seed ran again (a fresh line: no "(done before)")
        assert re.search(r"\[study\] seeds cosine seed 1 at lr=\S+: completed, test top-1 [\d.]+ \|", output), output
    assert table(study_dir) == table(reference)  # the final table equals an uninterrupted study's


def test_the_report_page_renders_the_study_in_chromium(tiny_study, tmp_path):
    from selenium.webdriver.common.by import By

    study_dir, _ = tiny_study
    page = study_dir / "report" / "report.html"
    assert not re.search(r"""(src|href)=["'](https?:|//)""", page.read_text())  # self-contained: nothing to fetch
    driver = headless_chromium(tmp_path / "profile")
    try:
        driver.get(page.as_uri())
        data = json.loads(driver.find_element(By.ID, "study-data").get_attribute("textContent"))
        verdict = driver.find_element(By.ID, "verdict").text
        assert verdict.startswith("Verdict.") and "Power" in verdict
        # the comparison table: one row per schedule, its mean as the data says
        cells = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                 for tr in driver.find_elements(By.CSS_SELECTOR, "#comparison table:first-of-type tbody tr")]
        # a row's label is its schedule, then its tuned LR when the schedules' tuned LRs differ (they do on some CPUs)
        assert sorted(c[1].split(",")[0] for c in cells) == ["constant", "cosine"]
        for row in data["rows"]:
            shown = next(c for c in cells if c[1] == row["setting"])
            assert shown[3].startswith(f"{row['mean']:.2f}")
        # LR sensitivity: per schedule one marker per completed trial, in LR order along the log axis, the tuned one ringed
        for schedule, trials in data["trials"].items():
            markers = driver.find_elements(By.CSS_SELECTOR, f"#sensitivity g[id='sensitivity-{schedule}'] use")
            completed = [t for t in trials if t["value"] is not None]
            assert len(markers) == len(completed)
            xs = [float(m.get_attribute("x")) for m in markers]
            assert xs == sorted(xs)
            assert len(driver.find_elements(By.CSS_SELECTOR, f"#sensitivity g[id='chosen-{schedule}'] use")) == 1
        sensitivity_text = driver.find_element(By.ID, "sensitivity").text
        assert "validation top-1" in sensitivity_text and "log scale" in sensitivity_text
        # learning curves name the test set; the LR figure draws each seed's applied LR
        curves_text = driver.find_element(By.ID, "curves").text
        assert "test top-1" in curves_text and "validation top-1" not in curves_text
        assert len(driver.find_elements(By.CSS_SELECTOR, "#curves g[id^='curve-']")) == 2
        assert len(driver.find_elements(By.CSS_SELECTOR, "#lr g[id^='lr-'] path")) == 4  # 2 schedules x 2 seeds
        assert "tuned LR" in driver.find_element(By.ID, "study").text
    finally:
        driver.quit()


def test_a_schedule_has_one_colour_in_every_figure_of_the_report(tiny_study):
    study_dir, _ = tiny_study
    page = (study_dir / "report" / "report.html").read_text()
    strokes: dict = {}
    for gid, style in re.findall(r'<g id="((?:sensitivity|curve|lr)-[^"]*)">\s*<path[^>]*?style="([^"]*)"', page):
        schedule = re.sub(r"^(sensitivity|curve|lr)-", "", gid).split(",")[0].split("-")[0]
        strokes.setdefault(schedule, set()).add(re.search(r"stroke: (#[0-9a-f]{6})", style).group(1))
    assert sorted(strokes) == ["constant", "cosine"]
    assert all(len(colours) == 1 for colours in strokes.values()) and strokes["constant"] != strokes["cosine"], strokes
    data = json.loads(re.search(r"<script type='application/json' id='study-data'>(.*?)</script>", page, re.S).group(1))
    assert {s: {c} for s, c in data["colors"].items()} == strokes


# ----------------------------------------------------------------------------- no training below

def test_the_lr_plan_is_deterministic_and_a_longer_plan_extends_a_shorter_one():
    plan = study.lr_plan(6, 0.005, 1.0)
    assert plan == study.lr_plan(6, 0.005, 1.0) and plan[:4] == study.lr_plan(4, 0.005, 1.0)
    assert all(0.005 <= lr <= 1.0 for lr in plan) and len(set(plan)) == 6
    # a log scale: the points cover every decade of the range
    assert {int(__import__("math").floor(__import__("math").log10(lr))) for lr in plan} == {-3, -2, -1}


def test_ties_take_the_median_lr_of_the_tied_trials():
    class Trial:
        def __init__(self, lr, value):
            self.params, self.value = {"lr": lr}, value
    trials = [Trial(0.01, 90.0), Trial(0.03, 95.0), Trial(0.1, 95.0), Trial(0.3, 95.0), Trial(1.0, None)]
    assert study.tuned_lr(trials) == 0.1
    assert study.tuned_lr([Trial(1.0, None)]) is None


@pytest.mark.parametrize("args, message", [
    (["--schedules", "cosine,nope"], "schedule 'nope' is neither conf/experiment/digits_nope.yaml nor conf/scheduler/nope.yaml"),
    (["--schedules", "cosine,cosine"], "names a schedule twice"),
    (["--schedules", "cosine", "--lr-range", "1,0.1"], "must be two LRs with 0 < low < high"),
    (["--schedules", "cosine", "--val-split", "0"], "never on the test set"),
    (["--schedules", "cosine", "--seeds", "0"], "must both be at least 1"),
])
def test_bad_input_is_one_clear_paragraph_and_exit_2(tmp_path, capsys, args, message):
    assert study_script.main(["--dir", str(tmp_path / "s"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "s").exists()  # nothing half-written


def test_a_changed_study_in_the_same_directory_is_refused(tmp_path, capsys):
    spec = study.StudySpec(study_dir=tmp_path / "s", schedules=["cosine"], overrides=["trainer.max_epochs=1"])
    study.save_spec(spec)
    study.save_spec(study.StudySpec(study_dir=tmp_path / "s", schedules=["cosine", "step"], trials=9,
                                    overrides=["trainer.max_epochs=1", "hydra/launcher=parallel"]))  # may change
    with pytest.raises(study.ConfigError, match="holds a different study"):
        study.save_spec(study.StudySpec(study_dir=tmp_path / "s", schedules=["cosine"], overrides=["trainer.max_epochs=2"]))


def test_reproduction_means_the_same_verdict_and_means_inside_the_prediction_intervals():
    from types import SimpleNamespace

    from analysis import stats
    rows = [SimpleNamespace(setting="cosine", spread=stats.spread([98.0, 98.3, 97.8, 98.1, 98.2])),  # what reproduction reads
            SimpleNamespace(setting="step", spread=stats.spread([97.0, 97.9, 96.5, 97.5, 97.2]))]  # of a comparison.Row
    committed = {"winner": None, "settings": study_report.reproduction(rows, winner=None)["settings"]}
    bounds = committed["settings"]["cosine"]
    # by hand: mean 98.08, s = 0.1924, t(0.975, 4) = 2.7764, half = t*s*sqrt(2/5) = 0.3379
    assert (bounds["rerun_mean_low"], bounds["rerun_mean_high"]) == pytest.approx((98.08 - 0.33786, 98.08 + 0.33786), abs=1e-4)
    same = {"winner": None, "settings": {"cosine": {"mean": 97.9}, "step": {"mean": 97.3}}}  # another CPU, other floats
    assert study_report.check_reproduction(committed, same) == []
    drifted = {"winner": "cosine", "settings": {"cosine": {"mean": 97.5}, "step": {"mean": 97.3}}}
    problems = study_report.check_reproduction(committed, drifted)
    assert problems[0] == "the verdict differs: committed no clear winner, rerun cosine"
    assert problems[1].startswith("cosine: rerun mean 97.50 outside the prediction interval [97.74, 98.42]")


def test_a_tuned_lr_at_the_edge_of_the_plan_is_flagged(tmp_path):
    spec = study.StudySpec(study_dir=tmp_path, schedules=["cosine", "step"], trials=4)
    plan = sorted(study.lr_plan(4, 0.005, 1.0))
    md = study_report.study_markdown(spec, {"cosine": plan[1], "step": plan[-1]}, {"cosine": [], "step": []}, {})
    assert "**At the edge of the plan:** step was tuned to the highest LR tried, so its optimum may lie beyond it" in md
    assert "cosine" not in md.split("At the edge")[1].split("\n")[0]
