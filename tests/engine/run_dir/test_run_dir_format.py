"""The run directory's format (engine/run_dir/: status, summary, events), unit by unit: no run is trained."""
import json
import subprocess
import sys

from engine.run_dir.events import open_event_writer, read_scalars
from engine.run_dir.status import RunStatus
from engine.run_dir.summary import (RunSummary, finished_status, read_summary, record_failure, replace_status,
                                    run_dirs_with_summary, run_status)
from tests.support.runs import ROOT


def test_a_status_is_its_old_string_in_json_comparisons_and_messages(tmp_path):
    RunSummary(tmp_path, epochs=0).update(status=RunStatus.DIVERGED)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "diverged"
    assert RunStatus.DIVERGED == "diverged" and f"{RunStatus.DIVERGED}" == str(RunStatus.DIVERGED) == "diverged"
    assert RunStatus.of("requeued") is RunStatus.REQUEUED and RunStatus.of("paused") is None and RunStatus.of(["x"]) is None


def test_summaries_that_cannot_be_read_are_absent_and_only_completed_or_diverged_runs_are_finished(tmp_path):
    assert read_summary(tmp_path) is None and run_status(tmp_path) is None and finished_status(tmp_path) is None
    for text in ("{not json", "[1, 2]"):
        (tmp_path / "summary.json").write_text(text)
        assert read_summary(tmp_path) is None and finished_status(tmp_path) is None
    for status, finished in (("completed", True), ("diverged", True), ("failed", False), ("running", False)):
        (tmp_path / "summary.json").write_text(json.dumps({"status": status}))
        assert finished_status(tmp_path) == (status if finished else None) and run_status(tmp_path) == status
    (tmp_path / "summary.json").write_text(json.dumps({"status": "from a newer train.py"}))
    assert run_status(tmp_path) == "from a newer train.py"  # shown as written, never taken for a known state


def test_failure_and_status_replacement_keep_the_other_fields(tmp_path):
    RunSummary(tmp_path, epochs=2)
    replace_status(tmp_path, RunStatus.REQUEUED, RunStatus.INTERRUPTED)  # it says running: left alone
    assert read_summary(tmp_path) == {"status": "running", "epochs": 2}
    replace_status(tmp_path, RunStatus.RUNNING, RunStatus.INTERRUPTED)
    assert read_summary(tmp_path) == {"status": "interrupted", "epochs": 2}
    record_failure(tmp_path, "the disk\n is full")
    assert read_summary(tmp_path) == {"status": "failed", "epochs": 2, "error": "the disk is full"}
    (tmp_path / "sub" / "run").mkdir(parents=True)
    RunSummary(tmp_path / "sub" / "run")
    assert run_dirs_with_summary(tmp_path) == [tmp_path, tmp_path / "sub" / "run"]


def test_scalars_are_read_back_as_written_and_a_folder_without_events_has_none(tmp_path):
    assert read_scalars(tmp_path) == {}
    writer = open_event_writer(tmp_path, 0, {})
    for step in range(3):
        writer.add_scalar("lr", 0.5 * step, step)
    writer.add_scalar("val/acc1", 12.5, 1)
    writer.close()
    assert read_scalars(tmp_path, ("lr", "absent")) == {"lr": [(0, 0.0), (1, 0.5), (2, 1.0)]}
    assert read_scalars(tmp_path)["val/acc1"] == [(1, 12.5)]


def test_the_oneflow_free_readers_stay_oneflow_free():
    code = ("import sys, engine.run_dir.summary, engine.run_dir.events, engine.run_dir.status, analysis.comparison, "
            "analysis.study; print('oneflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert result.stdout.strip() == "False", result.stderr
