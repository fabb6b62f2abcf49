"""compare_runs.py on fixture sweeps in the summary.json contract's format (no training)."""
import csv
import json
import statistics
from pathlib import Path

import pytest
import yaml
from scipy import stats as scipy_stats

from analysis import comparison, stats
from tests.support.sweeps import write_run
from scripts import compare_runs  # its CLI (main): the library is analysis.comparison

ROOT = Path(__file__).resolve().parents[2]



@pytest.fixture
def sweep(tmp_path):
    """cosine: 3 seeds; step: 2 completed, 1 diverged; plateau: 1 completed, 1 still running, 1 crashed (no summary)."""
    sweep = tmp_path / "sweep"
    for seed, final in enumerate([70.0, 72.0, 74.0]):
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [30.0, 55.0, 65.0, final], lrs=[0.1, 0.05, 0.0])
    for seed, final in enumerate([60.0, 62.0]):
        write_run(sweep, f"scheduler=step,seed={seed}", "step", seed, [40.0, 52.0, 58.0, final], lrs=[0.1, 0.1, 0.02])
    write_run(sweep, "scheduler=step,seed=2", "step", 2, [20.0, 10.0], status="diverged",
              diverged={"step": 17, "epoch": 2, "lr": 0.1})
    write_run(sweep, "scheduler=plateau,seed=0", "plateau", 0, [35.0, 50.0, 60.0, 71.0])
    write_run(sweep, "scheduler=plateau,seed=1", "plateau", 1, [35.0, 51.0], status="running")
    crashed = sweep / "scheduler=plateau,seed=2" / ".hydra"
    crashed.mkdir(parents=True)
    (crashed / "config.yaml").write_text("seed: 2\nscheduler:\n  name: plateau\n")
    return sweep


def read_rows(out: Path) -> dict:
    return {row["schedule"]: row for row in csv.DictReader((out / "comparison.csv").open())}


def test_table_means_ties_diverged_running_and_missing(sweep, tmp_path):
    out = tmp_path / "out"
    assert compare_runs.main([str(sweep), "--out", str(out)]) == 0
    rows = read_rows(out)
    cosine, step, plateau = rows["cosine"], rows["step"], rows["plateau"]
    assert float(cosine["final_acc1_mean"]) == pytest.approx(72.0)
    assert float(cosine["final_acc1_std"]) == pytest.approx(statistics.stdev([70.0, 72.0, 74.0]))
    assert (cosine["runs"], cosine["completed"], cosine["diverged"]) == ("3", "3", "0")
    # the diverged run is counted, not averaged
    assert (step["runs"], step["completed"], step["diverged"]) == ("3", "2", "1")
    assert float(step["final_acc1_mean"]) == pytest.approx(61.0)
    assert (plateau["completed"], plateau["running"], plateau["missing"]) == ("1", "1", "1")
    assert float(plateau["final_acc1_mean"]) == pytest.approx(71.0) and plateau["final_acc1_std"] == ""
    # sorted by mean final test top-1: cosine 72 > plateau 71 > step 61; no shared ranks (the means differ)
    assert [r["setting"] for r in csv.DictReader((out / "comparison.csv").open())] == ["cosine", "plateau", "step"]
    assert (cosine["rank"], plateau["rank"], plateau["tie_with"], step["rank"]) == ("1", "2", "", "3")
    # plateau has one completed seed, step two: too thin for a verdict, and plateau cannot be tested (n < 2);
    # step's seeds 0 and 1 pair with cosine's, 10 points lower on both: a gap without spread, no t-test
    assert plateau["test"] == "" and step["test"] == "constant difference" and step["p_value"] == ""
    assert float(step["diff_from_best"]) == -10.0 and float(step["diff_ci95_low"]) == float(step["diff_ci95_high"]) == -10.0
    # epochs to 50%: recorded per run in the contract's epochs_to_threshold
    assert float(cosine["epochs_to_acc1>=50_mean"]) == 2.0 and float(step["epochs_to_acc1>=50_mean"]) == 2.0
    table = (out / "comparison.md").read_text()
    assert "Evidence too thin" in table and "**plateau** (71.00, n=1)" in table and "**step** (61.00 ± 1.41, n=2)" in table
    assert "| 2 | plateau | 1/3 |" in table and "1 running, 1 missing" in table and "untestable (n < 2)" in table
    assert "diverged at epoch 2, step 17, lr 0.1" in table and "no summary.json" in table
    assert (out / "val_acc1.png").stat().st_size > 10_000 and (out / "lr.png").stat().st_size > 10_000
    assert not list(out.glob("*.tmp*"))  # atomic writes leave no temporaries


def test_missing_job_directory_is_found_from_multirun_yaml(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [50.0, 60.0 + seed])
    write_run(sweep, "scheduler=step,seed=0", "step", 0, [40.0, 45.0])
    # Hydra's record of the sweep: 2 schedules x 2 seeds, so scheduler=step,seed=1 never started.
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  sweep:\n    dir: x\n    subdir: ${hydra.job.override_dirname}\n"
        "  sweeper:\n    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper\n    max_batch_size: null\n    params: null\n"
        "  overrides:\n    task:\n    - scheduler=cosine,step\n    - seed=0,1\n    - trainer.progress=false\n"
        "  job:\n    config:\n      override_dirname:\n        kv_sep: '='\n        item_sep: ','\n        exclude_keys: [trainer.progress]\n")
    rows = comparison.compare(sweep, tmp_path / "out", figures=False)
    step = next(r for r in rows if r.schedule == "step")
    assert (step.runs, step.completed, step.missing) == (2, 1, 1)
    assert "`scheduler=step,seed=1` | step | missing" in (tmp_path / "out" / "comparison.md").read_text()


def test_epochs_to_threshold_falls_back_to_history_and_single_runs_rank_without_ties(tmp_path):
    sweep = tmp_path / "sweep"
    run = write_run(sweep, "a", "cosine", 0, [30.0, 45.0, 80.0])
    summary = json.loads((run / "summary.json").read_text())
    del summary["epochs_to_threshold"], summary["seed"]  # an older summary: history only, seed from .hydra
    (run / "summary.json").write_text(json.dumps(summary))
    write_run(sweep, "b", "step", 0, [30.0, 40.0, 50.0])
    rows = comparison.compare(sweep, tmp_path / "out", thresholds=[70.0], figures=False)
    assert [(r.schedule, r.rank, r.epochs_to["acc1>=70"].mean) for r in rows] == [("cosine", 1, 3.0), ("step", 2, None)]
    assert "Evidence too thin" in (tmp_path / "out" / "comparison.md").read_text()


def test_bad_sweep_dir_is_one_clear_error(tmp_path, capsys):
    assert compare_runs.main([str(tmp_path / "nope"), "--out", str(tmp_path / "out")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert compare_runs.main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    assert "no runs found" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def rows_by_setting(out: Path) -> dict:
    return {row["setting"]: row for row in csv.DictReader((out / "comparison.csv").open())}


def test_two_learning_rates_are_two_rows_never_one_mixture(tmp_path):
    """A sweep optimizer.lr=0.02,0.2 seed=0,1,2: each LR is its own row, labelled by the LR."""
    sweep = tmp_path / "sweep"
    for lr, finals in ((0.02, [60.0, 61.0, 62.0]), (0.2, [20.0, 22.0, 24.0])):
        for seed, final in enumerate(finals):
            write_run(sweep, f"optimizer.lr={lr},seed={seed}", "cosine", seed, [10.0, final],
                      config={"optimizer": {"lr": lr, "momentum": 0.9}, "trainer": {"progress": seed == 0}})
    assert compare_runs.main([str(sweep), "--no-figures"]) == 0
    rows = rows_by_setting(sweep / "comparison")
    assert sorted(rows) == ["cosine, optimizer.lr=0.02", "cosine, optimizer.lr=0.2"]  # trainer.progress changes nothing
    low, high = rows["cosine, optimizer.lr=0.02"], rows["cosine, optimizer.lr=0.2"]
    assert (low["completed"], float(low["final_acc1_mean"]), float(low["final_acc1_std"])) == ("3", 61.0, 1.0)
    assert (high["completed"], float(high["final_acc1_mean"]), float(high["final_acc1_std"])) == ("3", 22.0, 2.0)
    # Same seeds 0, 1, 2 in both rows: the paired test; the difference is far beyond the noise.
    assert high["test"] == "paired t-test"
    assert float(high["p_value"]) == pytest.approx(scipy_stats.ttest_rel([60.0, 61.0, 62.0], [20.0, 22.0, 24.0]).pvalue)
    table = (sweep / "comparison" / "comparison.md").read_text()
    assert "**cosine, optimizer.lr=0.02** (61.00 ± 1.00, n=3) has the highest mean final test top-1, and every other setting is lower" in table


def test_equal_results_are_a_tie_and_no_winner_is_named(tmp_path):
    sweep = tmp_path / "sweep"
    for schedule in ("cosine", "step", "plateau"):
        for seed in range(3):
            write_run(sweep, f"scheduler={schedule},seed={seed}", schedule, seed, [90.0, 100.0])
    rows = comparison.compare(sweep, figures=False)
    assert [r.rank for r in rows] == [1, 1, 1] and all(r.tie_with for r in rows)
    assert [r.test.name for r in rows[1:]] == ["equal means", "equal means"] and rows[1].indistinguishable_from_best
    table = (sweep / "comparison" / "comparison.md").read_text()
    assert "No clear winner" in table and "tie at the highest mean final test top-1" in table
    assert table.count("| =1 |") == 3 and "tie (equal means)" in table


def test_close_results_are_indistinguishable_not_a_winner(tmp_path):
    sweep = tmp_path / "sweep"
    for schedule, finals in (("cosine", [70.0, 74.0, 72.0]), ("step", [71.0, 69.0, 73.5]), ("linear", [50.0, 51.0, 52.0])):
        for seed, final in enumerate(finals):
            write_run(sweep, f"scheduler={schedule},seed={seed}", schedule, seed, [10.0, final])
    rows = comparison.compare(sweep, figures=False)
    assert [r.setting for r in rows] == ["cosine", "step", "linear"]
    assert rows[1].indistinguishable_from_best and not rows[2].indistinguishable_from_best
    verdict = (sweep / "comparison" / "comparison.md").read_text()
    assert ("No clear winner: **cosine** (72.00 ± 2.00, n=3) has the highest mean final test top-1, "
            "but **step** (71.17 ± 2.25, n=3; p = 0.728) is not distinguishable") in verdict
    assert "linear" not in verdict.split("**Verdict.**")[1].split("\n")[0].split("Power")[0]  # named only in the power note


def test_default_output_is_inside_the_compared_folder_never_results(tmp_path, capsys):
    results = comparison.REPO_RESULTS
    before = {p: p.stat().st_mtime_ns for p in results.rglob("*")}
    sweep = tmp_path / "sweep"
    write_run(sweep, "a", "cosine", 0, [30.0, 40.0])
    assert compare_runs.main([str(sweep), "--no-figures"]) == 0
    assert (sweep / "comparison" / "comparison.md").is_file() and (sweep / "comparison" / "comparison.csv").is_file()
    assert f"wrote {sweep / 'comparison'}/comparison.md" in capsys.readouterr().out
    assert {p: p.stat().st_mtime_ns for p in results.rglob("*")} == before
    # A folder inside results/ would get its default output there too: that takes an explicit --out.
    with pytest.raises(comparison.CompareError, match="pass --out explicitly"):
        comparison.default_out(results / "some_sweep")


def test_harmless_keys_join_a_row_and_ignore_pools_a_key_and_says_so(tmp_path):
    sweep = tmp_path / "runs"
    for seed in range(3):
        write_run(sweep, f"a{seed}", "cosine", seed, [10.0, 60.0 + seed],
                  config={"data": {"batch_size": 64, "dataset": {"root": f"/data{seed}"}}, "device": "cpu" if seed else "auto"})
        write_run(sweep, f"b{seed}", "cosine", seed, [10.0, 50.0 + seed], config={"data": {"batch_size": 128}})
    rows = comparison.compare(sweep, tmp_path / "split", figures=False)
    assert sorted(r.setting for r in rows) == ["cosine, data.batch_size=128", "cosine, data.batch_size=64"]
    assert all(r.completed == 3 for r in rows)  # data root and device differ within a row: they change nothing
    assert compare_runs.main([str(sweep), "--out", str(tmp_path / "pooled"), "--ignore", "data.batch_size", "--no-figures"]) == 0
    (pooled,) = csv.DictReader((tmp_path / "pooled" / "comparison.csv").open())
    assert (pooled["setting"], pooled["completed"], pooled["runs"]) == ("cosine", "3", "6")  # one per seed
    table = (tmp_path / "pooled" / "comparison.md").read_text()
    assert "**Pooled over `data.batch_size`** (declared irrelevant with --ignore)" in table
    assert table.count("not counted twice") == 3


def test_config_group_choices_label_rows_without_listing_their_keys(tmp_path):
    sweep = tmp_path / "sweep"
    for data, size in (("synthetic", 2000), ("digits", 1437)):
        for seed in range(3):
            run = write_run(sweep, f"data={data},seed={seed}", "cosine", seed, [10.0, 50.0 + seed + (data == "digits")],
                            config={"data": {"train_size": size, "batch_size": 64}, "model": {"num_classes": 10}})
            (run / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump(
                {"hydra": {"runtime": {"choices": {"data": data, "model": "tiny", "scheduler": "cosine", "hydra/launcher": "basic"}}}}))
    rows = comparison.compare(sweep, figures=False)
    assert sorted(r.setting for r in rows) == ["cosine, data=digits", "cosine, data=synthetic"]
    assert "All rows share: model=tiny, scheduler=cosine." in (sweep / "comparison" / "comparison.md").read_text()


def test_statistics_match_scipy_on_hand_made_numbers():
    values = [1.0, 2.0, 3.0, 4.0]
    s = stats.spread(values)
    # By hand: mean 2.5, s = sqrt(5/3) = 1.2910, t(0.975, 3) = 3.1824, half-width = t * s / 2 = 2.0543.
    assert (s.n, s.mean) == (4, 2.5) and s.std == pytest.approx(1.2909944)
    assert (s.ci_low, s.ci_high) == pytest.approx((0.4457397, 4.5542603))
    assert (s.ci_low, s.ci_high) == pytest.approx(scipy_stats.t.interval(0.95, 3, loc=2.5, scale=scipy_stats.sem(values)))
    best, other = {0: 10.0, 1: 11.0, 2: 12.5}, {3: 9.0, 4: 9.5, 5: 8.0}
    welch = stats.compare_with_best(best, other)  # no seed shared: Welch
    t, p = scipy_stats.ttest_ind(list(best.values()), list(other.values()), equal_var=False)
    assert welch.name == stats.WELCH and welch.p == pytest.approx(p)
    # Welch by hand: t = (mean difference) / sqrt(s1²/n1 + s2²/n2), Welch–Satterthwaite degrees of freedom.
    v1, v2 = statistics.variance(best.values()) / 3, statistics.variance(other.values()) / 3
    t_hand = (statistics.fmean(best.values()) - statistics.fmean(other.values())) / (v1 + v2) ** 0.5
    df = (v1 + v2) ** 2 / (v1 ** 2 / 2 + v2 ** 2 / 2)
    assert welch.p == pytest.approx(2 * scipy_stats.t.sf(t_hand, df))
    paired = stats.compare_with_best(best, {0: 9.0, 1: 9.5, 2: 8.0})  # the same seeds: paired
    assert paired.name == stats.PAIRED and paired.p == pytest.approx(scipy_stats.ttest_rel([10, 11, 12.5], [9, 9.5, 8]).pvalue)
    assert stats.compare_with_best({0: 5.0, 1: 5.0}, {0: 5.0, 1: 5.0}) == stats.Test(stats.EQUAL, 1.0)
    assert stats.compare_with_best({0: 5.0, 1: 6.0}, {0: 4.0}) == stats.Test(None, None)  # n = 1: no spread
    assert stats.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])


def test_a_setting_whose_every_job_never_started_is_its_own_row(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in (0, 1):
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [50.0, 60.0 + seed], config={"optimizer": {"lr": 0.1}})
    (sweep / "multirun.yaml").write_text(
        "hydra:\n  sweep:\n    dir: x\n    subdir: ${hydra.job.override_dirname}\n"
        "  sweeper:\n    _target_: hydra._internal.core_plugins.basic_sweeper.BasicSweeper\n    max_batch_size: null\n    params: null\n"
        "  overrides:\n    task:\n    - scheduler=cosine,step\n    - seed=0,1\n"
        "  job:\n    config:\n      override_dirname:\n        kv_sep: '='\n        item_sep: ','\n        exclude_keys: []\n")
    rows = comparison.compare(sweep, figures=False)
    assert [(r.setting, r.completed, r.missing) for r in rows] == [("cosine", 2, 0), ("scheduler=step (never started)", 0, 2)]


def test_a_schedule_that_never_changed_the_lr_is_flagged(tmp_path, capsys):
    sweep = tmp_path / "sweep"  # the README's old sweep: step (step_size 60) and constant in a 3-epoch run
    for schedule, lrs in (("step", [0.05] * 6), ("constant", [0.05] * 6), ("cosine", [0.05, 0.04, 0.01])):
        for seed in range(2):
            write_run(sweep, f"scheduler={schedule},seed={seed}", schedule, seed, [90.0, 95.0 + seed], lrs=lrs)
    comparison.compare(sweep, figures=False)
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: step: every run kept the LR constant")
    table = (sweep / "comparison" / "comparison.md").read_text()
    assert "**Warning: `step` kept its LR constant over the whole run**" in table and "`constant` kept" not in table
