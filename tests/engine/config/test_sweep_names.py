"""Sweep job names (= TensorBoard run names) keep only the overrides that vary (engine.config.sweep_names)."""
import json

from engine.config.compose import compose_config
from engine.config.keys import HARMLESS_KEYS, JOB_NAME_EXCLUDED_KEYS
from engine.config.sweep_names import EXCLUDE_KEYS, varying_names_argv
from tests.support.runs import run_train

CONFIGURED = ["trainer.progress", "trainer.log_every_n_steps", "device", "data.dataset.root"]  # conf/config.yaml


def excluded(argv):
    added = varying_names_argv(argv)[len(argv):]
    if not added:
        return None
    (override,) = added
    assert override.startswith(EXCLUDE_KEYS + "=[")
    return [k.strip("'") for k in override.split("=", 1)[1].strip("[]").split(",")]


def test_the_configured_excludes_are_harmless_keys_named_once_in_engine_config_keys():
    cfg = compose_config(hydra_config=True)  # conf/config.yaml reads them through ${job_name_excluded_keys:}
    assert list(cfg.hydra.job.config.override_dirname.exclude_keys) == list(JOB_NAME_EXCLUDED_KEYS) == CONFIGURED
    assert set(JOB_NAME_EXCLUDED_KEYS) <= set(HARMLESS_KEYS)  # leaving them out of a name never merges two experiments


def test_shared_overrides_leave_the_names_and_the_configured_excludes_stay():
    argv = ["train.py", "-m", "scheduler=cosine,step", "data=synthetic", "model=tiny", "+extra.key=1", "hydra.sweep.dir=x"]
    assert excluded(argv) == CONFIGURED + ["data", "extra.key", "model"]


def test_an_excluded_key_that_varies_is_named_so_jobs_never_share_a_directory():
    keys = excluded(["train.py", "-m", "trainer.log_every_n_steps=10,20", "seed=range(2)", "model=tiny"])
    assert "trainer.log_every_n_steps" not in keys and "seed" not in keys and "model" in keys


def test_command_lines_that_must_stay_as_they_are():
    assert excluded(["train.py", "data=synthetic", "model=tiny"]) is None  # a single run
    assert excluded(["train.py", "-m", "seed=0", "model=tiny"]) is None  # one job: its name must not become empty
    assert excluded(["train.py", "-m", "seed=0,1", f"{EXCLUDE_KEYS}=[seed]"]) is None  # the user chose
    assert excluded(["train.py", "-m", "seed=0,1", "model=(("]) is None  # Hydra reports the bad override itself


def test_a_sweep_defined_by_an_experiment_file_is_named_by_its_own_params():
    # experiment=compare_all sweeps scheduler x seed from hydra.sweeper.params; the fixed overrides leave the names.
    assert excluded(["train.py", "experiment=compare_all", "model=tiny"]) == CONFIGURED + ["experiment", "model"]


def test_real_sweep_job_directories_are_named_by_what_varies(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_train("-m", "scheduler=cosine,step", "data=synthetic", "model=tiny", "data.train_size=128",
                       "data.batch_size=64", "data.dataset.test_size=64", "trainer.max_epochs=1", "trainer.progress=false",
                       f"hydra.sweep.dir={sweep}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["scheduler=cosine", "scheduler=step"]
    for job in jobs:
        summary = json.loads((sweep / job / "summary.json").read_text())
        assert summary["status"] == "completed" and summary["scheduler"] == job.split("=")[1]
        assert summary["model"] == "tiny"  # the shared overrides still apply; they are only left out of the name


def test_inspection_flags_stay_after_every_override(tmp_path):
    """Hydra takes its overrides as one run: one added after `--cfg job` was refused as an unrecognized argument."""
    from engine.run_dir.resume import resume_argv
    out = varying_names_argv(["train.py", "-m", "scheduler=cosine,step", "model=tiny", "--cfg", "job", "--resolve"])
    assert out[:4] == ["train.py", "-m", "scheduler=cosine,step", "model=tiny"] and out[4].startswith(EXCLUDE_KEYS)
    assert out[5:] == ["--cfg", "job", "--resolve"]
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- data=synthetic\n- model=tiny\n")
    out = resume_argv(["train.py", f"resume={tmp_path}", "seed=3", "--cfg", "job"])
    assert out[:4] == ["train.py", "data=synthetic", "model=tiny", "seed=3"]  # typed overrides after the run's own
    assert out[4].startswith("resume=") and out[5].startswith("hydra.run.dir=") and out[6:] == ["--cfg", "job"]


def test_cfg_job_of_a_resumed_run_prints_its_config_and_with_multirun_is_one_paragraph(tmp_path, train):
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "overrides.yaml").write_text("- data=synthetic\n- model=tiny\n")
    shown = train(f"resume={tmp_path}", "seed=3", "--cfg", "job", "--resolve")
    assert shown.returncode == 0, shown.stderr
    assert "width: 16" in shown.stdout and "seed: 3" in shown.stdout and "num_classes: 10" in shown.stdout
    refused = train("-m", "data=synthetic", "model=tiny", "seed=0,1", "--cfg", "job")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "--cfg prints (a config, Hydra's info) instead of running and cannot be combined with --multirun" in \
        " ".join(refused.stderr.split())
