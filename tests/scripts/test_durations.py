"""scripts/durations.py: the slowest lines and the seconds by kind, from what `pytest --durations=0` printed."""
from scripts import durations

OUTPUT = """\
============================= slowest durations ==============================
120.50s call     tests/runs/test_slurm.py::test_a_sweep_runs_as_slurm_jobs@slurm
30.00s setup    tests/runs/test_train_e2e.py::test_synthetic_tiny_run@session:finished_run
2.25s call     tests/schedulers/test_schedulers.py::test_curve_matches_closed_form[cosine]
0.25s teardown tests/runs/test_slurm.py::test_a_sweep_runs_as_slurm_jobs@slurm
1 failed, 1060 passed, 5 skipped in 600.00s (0:10:00)
"""


def test_lines_are_ranked_and_summed_by_kind_with_the_wall_time(tmp_path, capsys):
    (tmp_path / "out.txt").write_text(OUTPUT)
    assert durations.main([str(tmp_path / "out.txt"), "--top", "2"]) == 0
    printed = capsys.readouterr().out
    assert "  120.50s call     tests/runs/test_slurm.py::test_a_sweep_runs_as_slurm_jobs\n" in printed  # no @group
    assert "test_curve_matches_closed_form" not in printed.split("| kind")[0]  # only the top 2 listed
    assert "| Slurm (local cluster) | 1 | 121 | 79% |" in printed
    assert "| subprocess train.py runs | 1 | 30 | 20% |" in printed
    assert "| parametrised schedule checks | 1 | 2 | 1% |" in printed
    assert "| **sum of test durations** | 3 | 153 | 100% |" in printed
    assert "pytest: 1 failed, 1060 passed, 5 skipped in 600 s of wall time (10.0 min)." in printed


def test_a_file_without_durations_is_refused_in_one_line(tmp_path, capsys):
    assert durations.main([str(tmp_path / "missing.txt")]) == 2
    assert "is not a file" in capsys.readouterr().err
    (tmp_path / "plain.txt").write_text("3 passed in 1.00s\n")
    assert durations.main([str(tmp_path / "plain.txt")]) == 2
    assert "has no `--durations=0` lines" in capsys.readouterr().err
