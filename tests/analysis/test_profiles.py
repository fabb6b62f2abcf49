"""Performance profiles, the benchmark score, speedups and Kendall tau against cases worked out by hand."""
import math

import pytest

from analysis import profiles

INF = math.inf
# steps to target: three workloads, three schedules; on w3 nobody but cosine reaches it, on w2 two tie for fastest
STEPS = {"w1": {"cosine": 100, "step": 200, "wsd": 500},
         "w2": {"cosine": 300, "step": 150, "wsd": 150},
         "w3": {"cosine": 400, "step": INF, "wsd": INF}}


def test_ratios_by_hand_with_ties_and_never_reached():
    ratios = profiles.performance_ratios(STEPS)
    assert ratios == {"cosine": {"w1": 1.0, "w2": 2.0, "w3": 1.0},
                      "step": {"w1": 2.0, "w2": 1.0, "w3": INF},
                      "wsd": {"w1": 5.0, "w2": 1.0, "w3": INF}}  # tied fastest: both 1


def test_a_workload_nobody_reaches_gives_every_schedule_inf():
    assert profiles.performance_ratios({"w": {"a": INF, "b": INF}}) == {"a": {"w": INF}, "b": {"w": INF}}


def test_profile_by_hand():
    ratios = profiles.performance_ratios(STEPS)
    taus = [1.0, 1.5, 2.0, 4.0]
    assert profiles.profile(ratios["cosine"], taus) == pytest.approx([2 / 3, 2 / 3, 1.0, 1.0])
    assert profiles.profile(ratios["step"], taus) == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert profiles.profile(ratios["wsd"], taus) == pytest.approx([1 / 3, 1 / 3, 1 / 3, 1 / 3])  # 5 > tau_max, inf never


def test_benchmark_score_by_hand():
    ratios = profiles.performance_ratios(STEPS)
    # B = (1/3) * integral_1^4 rho. cosine: ratios 1, 2, 1 -> (3 + 2 + 3) / 3 / 3 = 8/9
    assert profiles.benchmark_score(ratios["cosine"]) == pytest.approx(8 / 9)
    # step: 2, 1, inf -> (2 + 3 + 0) / 3 / 3 = 5/9
    assert profiles.benchmark_score(ratios["step"]) == pytest.approx(5 / 9)
    # wsd: 5 (beyond tau_max: 0), 1, inf -> 3 / 3 / 3 = 1/3
    assert profiles.benchmark_score(ratios["wsd"]) == pytest.approx(1 / 3)
    assert profiles.benchmark_score({"w": 1.0}) == 1.0 and profiles.benchmark_score({"w": INF}) == 0.0


def test_the_exact_integral_equals_a_fine_grid():
    ratios = {"a": 1.3, "b": 2.7, "c": 3.99, "d": INF}
    grid = [1 + 3 * i / 30000 for i in range(30001)]
    rho = profiles.profile(ratios, grid)
    trapezoid = sum((rho[i] + rho[i + 1]) / 2 * (grid[i + 1] - grid[i]) for i in range(len(grid) - 1)) / 3
    assert profiles.benchmark_score(ratios) == pytest.approx(trapezoid, abs=1e-4)


def test_geometric_mean_speedup_by_hand_leaves_out_unreached_workloads():
    # step vs cosine: w1 100/200 = 0.5, w2 300/150 = 2, w3 left out -> sqrt(0.5 * 2) = 1
    assert profiles.geometric_mean_speedup(STEPS, "step", "cosine") == (pytest.approx(1.0), 1)
    # wsd vs cosine: 100/500 = 0.2, 300/150 = 2 -> sqrt(0.4)
    assert profiles.geometric_mean_speedup(STEPS, "wsd", "cosine") == (pytest.approx(math.sqrt(0.4)), 1)
    assert profiles.geometric_mean_speedup({"w": {"a": INF, "b": 5}}, "a", "b") == (None, 1)


def test_kendall_tau_of_the_studies_rankings():
    same = {"a": 3.0, "b": 2.0, "c": 1.0}
    reversed_ = {"a": 1.0, "b": 2.0, "c": 3.0}
    one_swap = {"a": 3.0, "b": 1.0, "c": 2.0}  # 2 concordant pairs, 1 discordant: (2 - 1) / 3
    assert profiles.kendall_taus([same, same, reversed_, one_swap]) == pytest.approx([1.0, -1.0, 1 / 3, -1.0, 1 / 3, -1 / 3])
    flat = {"a": 1.0, "b": 1.0, "c": 1.0}
    assert math.isnan(profiles.kendall_taus([same, flat])[0])
    assert "not stable" in profiles.stability_text([1.0, -1.0]) and "is stable" in profiles.stability_text([1.0, 0.8])


def test_steps_to_target_and_the_median_over_studies():
    assert profiles.steps_to_target([50.0, 80.0, 91.0, 95.0], 90.0, 23) == 3 * 23
    assert profiles.steps_to_target([50.0, 80.0], 90.0, 23) == INF
    assert profiles.steps_to_target([], 90.0, 23) == INF
    assert profiles.median([300, INF, 100]) == 300
    assert profiles.median([300, INF]) == INF and profiles.median([100, 300]) == 200 and profiles.median([]) == INF


def test_steps_to_target_takes_a_validation_inside_an_epoch_when_the_run_recorded_one():
    # per epoch (23 steps): 91 % first at the end of epoch 3 (step 69); inside epochs: 90.5 % at step 56
    by_step = [[10, 60.0], [33, 88.0], [56, 90.5], [60, 89.0]]
    assert profiles.steps_to_target([50.0, 80.0, 91.0], 90.0, 23, by_step) == 56
    assert profiles.steps_to_target([50.0, 80.0, 91.0], 95.0, 23, by_step) == INF
    assert profiles.steps_to_target([50.0, 95.0], 90.0, 23, [[40, 89.9]]) == 46  # the epoch end came first
