"""The verdict's honesty on synthetic sweep folders: failures, running sweeps, missing seeds, gaps without spread,
bounded intervals, disagreeing rankings, power, what "val" is, and mixed machines (no training)."""
import csv
import json

import pytest

from analysis import stats
from scripts import compare_runs
from tests.support.sweeps import write_run


def verdict_of(sweep, tmp_path, *args) -> tuple:
    out = tmp_path / "out"
    assert compare_runs.main([str(sweep), "--out", str(out), "--no-figures", *args]) == 0
    table = (out / "comparison.md").read_text()
    rows = {row["setting"]: row for row in csv.DictReader((out / "comparison.csv").open())}
    return table.split("**Verdict.** ")[1].split("\n")[0], table, rows


def clear_sweep(tmp_path, cosine=(80.0, 81.0, 82.5), step=(70.0, 70.5, 72.5)):
    sweep = tmp_path / "sweep"
    for seed, final in enumerate(cosine):
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [50.0, final])
    for seed, final in enumerate(step):
        write_run(sweep, f"scheduler=step,seed={seed}", "step", seed, [50.0, final])
    return sweep


def test_a_clear_difference_names_the_winner(tmp_path):
    verdict, _, _ = verdict_of(clear_sweep(tmp_path), tmp_path)
    assert verdict.startswith("**cosine** (81.17 ± 1.26, n=3) has the highest mean final test top-1, and every other")


def test_a_row_with_a_diverged_run_is_never_silently_the_winner(tmp_path):
    sweep = clear_sweep(tmp_path)
    write_run(sweep, "scheduler=cosine,seed=3", "cosine", 3, [50.0, 10.0], status="diverged",
              diverged={"step": 7, "epoch": 2, "lr": 1.0})
    write_run(sweep, "scheduler=step,seed=3", "step", 3, [50.0, 71.0])
    verdict, _, rows = verdict_of(sweep, tmp_path)
    assert verdict.startswith("No clear winner: **cosine**") and "1 of its 4 runs diverged or failed" in verdict
    assert "Failures are results: **cosine** lost 1 of 4 runs (25%)" in verdict
    assert "Power (the best row against the runner-up, step)" in verdict and rows["cosine"]["diverged"] == "1"


def test_a_failed_run_is_counted_and_named(tmp_path):
    sweep = clear_sweep(tmp_path)
    write_run(sweep, "scheduler=step,seed=3", "step", 3, [50.0], status="failed", error="No space left on device")
    verdict, table, rows = verdict_of(sweep, tmp_path)
    assert rows["step"]["failed"] == "1" and "**step** lost 1 of 4 runs (25%)" in verdict
    assert "failed: No space left on device" in table


def test_a_running_sweep_is_provisional(tmp_path):
    sweep = clear_sweep(tmp_path)
    write_run(sweep, "scheduler=step,seed=3", "step", 3, [50.0], status="running")
    verdict, _, _ = verdict_of(sweep, tmp_path)
    assert verdict.startswith("**Provisional:** 1 run is still running or not finished, so this can change. **cosine**")


def test_a_missing_seed_pairs_over_the_shared_seeds(tmp_path):
    sweep = clear_sweep(tmp_path, cosine=(80.0, 81.0, 82.5, 79.0), step=(70.0, 70.5, 72.5))  # step lacks seed 3
    _, _, rows = verdict_of(sweep, tmp_path)
    from scipy import stats as scipy_stats
    assert rows["step"]["test"] == stats.PAIRED
    assert float(rows["step"]["p_value"]) == pytest.approx(scipy_stats.ttest_rel([80.0, 81.0, 82.5], [70.0, 70.5, 72.5]).pvalue)
    # the gap (step − cosine) and its interval are over the same three pairs
    d = [-10.0, -10.5, -10.0]
    assert float(rows["step"]["diff_from_best"]) == pytest.approx(sum(d) / 3)


def test_a_gap_without_spread_is_no_claim_beyond_this_test_set(tmp_path):
    # one test image (0.28 points of 360) better on every seed: a paired t-test would say p = 0
    sweep = clear_sweep(tmp_path, cosine=(98.06, 98.33, 97.78), step=(97.78, 98.05, 97.50))
    verdict, table, rows = verdict_of(sweep, tmp_path)
    assert rows["step"]["test"] == stats.CONSTANT and rows["step"]["p_value"] == ""
    assert verdict.startswith("No clear winner: **cosine**") and "the same gap on every seed" in verdict
    assert "step is 0.28 points lower" in verdict and "describes this test set only" in verdict
    assert "same gap on every seed (no test: this test set only)" in table


def test_intervals_are_bounded_to_0_100_and_gaps_have_theirs(tmp_path):
    sweep = clear_sweep(tmp_path, cosine=(99.9, 100.0, 97.0), step=(60.0, 95.0, 30.0))
    _, table, rows = verdict_of(sweep, tmp_path)
    assert float(rows["cosine"]["final_acc1_ci95_high"]) == 100.0
    assert float(rows["step"]["final_acc1_ci95_low"]) == 0.0
    low, high = float(rows["step"]["diff_ci95_low"]), float(rows["step"]["diff_ci95_high"])
    assert -100.0 <= low < float(rows["step"]["diff_from_best"]) < high <= 100.0
    assert "| 2 | step | 3/3 | 61.67 ± 32.53 | [0.00, " in table


def test_final_and_best_epoch_rankings_disagree_out_loud(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(3):  # cosine ends higher; step peaked higher mid-run
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [60.0, 80.0 + seed])
        write_run(sweep, f"scheduler=step,seed={seed}", "step", seed, [90.0 + seed, 70.0 + seed])
    verdict, table, _ = verdict_of(sweep, tmp_path)
    assert "Ranked by best-epoch test top-1 (selected on the test set) instead, the order differs: step (91.00) > cosine (81.00)" in table
    verdict_best, table_best, _ = verdict_of(sweep, tmp_path, "--sort-by", "best")
    assert "Ranked by final test top-1 instead, the order differs: cosine" in table_best


def test_no_clear_winner_always_comes_with_its_power(tmp_path):
    sweep = clear_sweep(tmp_path, cosine=(80.0, 81.0, 82.5), step=(80.5, 79.0, 82.0))
    verdict, table, _ = verdict_of(sweep, tmp_path)
    assert verdict.startswith("No clear winner")
    assert "Power (the best row against the runner-up, step): with n = 3 seeds and paired differences of std" in verdict
    import statistics
    spread = statistics.stdev([80.0 - 80.5, 81.0 - 79.0, 82.5 - 82.0])
    assert f"std {spread:.2f} points" in verdict
    expected = stats.detectable_difference(3, spread)
    assert f"about **{expected:.2f} points**" in verdict
    assert f"0.5 points: {stats.seeds_needed(0.5, spread)} seeds; 1 point: {stats.seeds_needed(1.0, spread)} seeds" in verdict
    assert table.count("Power (the best row against the runner-up, step): with n = 3") == 2  # in the verdict and under the table


def test_power_formulas_match_the_textbook():
    # A paired t-test at alpha 0.05 needs 10 pairs for an effect of one standard deviation at 80 % power,
    # and 34 for half of one (Cohen's tables; G*Power gives the same).
    assert stats.seeds_needed(1.0, 1.0) == 10 and stats.seeds_needed(0.5, 1.0) == 34
    assert stats.paired_power(10, stats.detectable_difference(10, 1.0), 1.0) == pytest.approx(0.8, abs=1e-6)


def test_with_a_validation_split_the_table_reports_test_and_says_so(tmp_path):
    sweep = tmp_path / "sweep"
    for seed in range(3):  # val (final_acc1) says step, the test set (test_acc1) says cosine
        write_run(sweep, f"scheduler=cosine,seed={seed}", "cosine", seed, [50.0, 70.0], test_acc1=90.0 + seed,
                  test_acc5=99.0, test_acc1_at_best_epoch=90.0 + seed)
        write_run(sweep, f"scheduler=step,seed={seed}", "step", seed, [50.0, 95.0], test_acc1=80.0 + seed * 1.5,
                  test_acc5=99.0, test_acc1_at_best_epoch=80.0)
    verdict, table, rows = verdict_of(sweep, tmp_path)
    assert verdict.startswith("**cosine** (91.00 ± 1.00, n=3) has the highest mean final test top-1")
    assert "the table reports the **test set**, which chose nothing" in table
    assert float(rows["cosine"]["test_acc1_mean"]) == 91.0 and float(rows["step"]["final_acc1_mean"]) == 95.0


def test_without_a_validation_split_val_is_named_the_test_set(tmp_path):
    _, table, _ = verdict_of(clear_sweep(tmp_path), tmp_path)
    assert "their `val/*` metrics **are the test set**" in table


def test_a_comparison_mixing_cpus_or_versions_warns(tmp_path):
    sweep = clear_sweep(tmp_path)
    for i, run in enumerate(sorted(p for p in sweep.iterdir())):
        cpu = "AMD EPYC 7B13" if i % 2 else "Intel(R) Xeon(R) Platinum 8481C"
        provenance = {"cpu_model": cpu, "isa_flags": ["avx2"], "threads": {"OMP_NUM_THREADS": None},
                      "versions": {"numpy": "1.26.4", "scipy": "1.15.3" if i else "1.11.0"}}
        (run / "run_info.json").write_text(json.dumps({"oneflow": "0.9.0", "started": {"environment": {"provenance": provenance}}}))
    _, table, _ = verdict_of(sweep, tmp_path)
    assert "**Warning: this comparison mixes machines or library versions**" in table
    assert "the runs mix CPU model: AMD EPYC 7B13; Intel(R) Xeon(R) Platinum 8481C" in table
    assert "the runs mix scipy versions 1.11.0, 1.15.3" in table and "numpy versions" not in table
