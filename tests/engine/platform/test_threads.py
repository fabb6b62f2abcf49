"""CPU jobs side by side get their share of the cores (engine.platform.threads, the parallel launcher)."""
import cloudpickle

from engine.platform.threads import THREAD_VARIABLES, share_cores, threads_per_job
from hydra_plugins.device_pinned_launcher import device_pinned_launcher as launcher


def test_each_job_gets_its_share_of_the_cores_and_at_least_one_thread():
    assert threads_per_job(1, 2) == 2
    assert threads_per_job(2, 2) == 1
    assert threads_per_job(3, 2) == 1  # more jobs than cores: one thread each, never zero
    assert threads_per_job(2, 16) == 8


def test_the_users_own_thread_settings_are_kept():
    environ = {"OMP_NUM_THREADS": "4"}
    assert share_cores(2, 2, environ) == 1
    assert environ["OMP_NUM_THREADS"] == "4"
    assert all(environ[name] == "1" for name in THREAD_VARIABLES if name != "OMP_NUM_THREADS")


def test_joblibs_negative_n_jobs_and_short_sweeps_count_the_jobs_that_really_run(monkeypatch):
    monkeypatch.setattr(launcher, "cores_available", lambda: 8)
    assert launcher.side_by_side(2, 5) == 2
    assert launcher.side_by_side(4, 3) == 3  # three jobs never run four at once
    assert launcher.side_by_side(-1, 20) == 8 and launcher.side_by_side(-2, 20) == 7


def test_a_cpu_worker_sets_its_share_before_the_task_and_a_gpu_worker_does_not(monkeypatch, tmp_path):
    monkeypatch.delenv(launcher.PARALLEL_JOB_ENV, raising=False)
    seen = []
    monkeypatch.setattr(launcher, "execute_job", lambda *args: seen.append(dict(launcher.os.environ)))
    monkeypatch.setattr(launcher, "cores_available", lambda: 2)
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    payload = cloudpickle.dumps((0, [], None, None, None, None))
    launcher.run_pinned_job(str(tmp_path), [], [], payload, 2)
    assert all(seen[-1][name] == "1" for name in THREAD_VARIABLES)
    for name in THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(launcher, "claim_slot", lambda slot_dir, n: 0)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    launcher.run_pinned_job(str(tmp_path), ["3"], [], payload, 2)
    assert seen[-1]["CUDA_VISIBLE_DEVICES"] == "3" and not any(name in seen[-1] for name in THREAD_VARIABLES)
    # With n_jobs=1 joblib runs the job in the launching process: what the job set is put back after it
    assert launcher.os.environ["CUDA_VISIBLE_DEVICES"] == "" and launcher.PARALLEL_JOB_ENV not in launcher.os.environ
