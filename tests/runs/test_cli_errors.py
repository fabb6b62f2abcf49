"""Bad input ends train.py with one paragraph on stderr and a non-zero exit, never a traceback."""
from tests.support.cifar_format import write_archive
from tests.support.runs import assert_clean_failure


def test_unknown_config_choice(train):
    result = train("scheduler=no_such_schedule")
    assert_clean_failure(result, "no_such_schedule", "the choices: chained, constant")
    assert result.returncode == 2


def test_a_typo_in_a_key_or_choice_names_what_was_meant(train):
    """`scheduler.lr=0.05` got Hydra's hint `+scheduler.lr` (refused in turn); `scheduler=cosin` no nearest choice."""
    result = train("scheduler.lr=0.05")
    assert_clean_failure(result)
    assert "did you mean optimizer.lr?" in " ".join(result.stderr.split()) and result.returncode == 2
    assert "To append to your config use +scheduler.lr" not in result.stderr
    result = train("scheduler=cosin")
    assert_clean_failure(result)
    assert "did you mean scheduler=cosine" in " ".join(result.stderr.split())


# A missing dataset: tests/runs/test_schedulers_train.py's warning test, whose run stops on it (one start-up for both).


def test_corrupt_archive(tmp_path, train):
    archive = tmp_path / "cifar-100-python.tar.gz"
    write_archive(archive)
    archive.write_bytes(b"not a gzip file at all")
    result = train(f"data.dataset.root={tmp_path}", "model=tiny", f"hydra.run.dir={tmp_path / 'run'}")
    assert_clean_failure(result, "md5", str(archive))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-100-python.tar.gz"]  # nothing extracted, no run directory


def test_a_refused_config_leaves_no_runs_folder(tmp_path):
    """A refused config removed its run directory and runs/<date>, but left an empty runs/ in the working directory."""
    from tests.support.runs import run_train
    result = run_train("model=tiny", "data=synthetic", "data.batch_size=0", cwd=tmp_path)
    assert_clean_failure(result, "data.batch_size=0")
    assert list(tmp_path.iterdir()) == []


def test_the_system_python_from_another_directory_gets_one_line_naming_the_venv(tmp_path):
    """It gave a raw `ModuleNotFoundError: No module named 'oneflow'` traceback."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.support.runs import ROOT
    base = Path(sys.base_prefix) / "bin" / "python3"  # the interpreter the venv was made from: no oneflow there
    if subprocess.run([str(base), "-c", "import oneflow"], capture_output=True).returncode == 0:
        import pytest
        pytest.skip(f"{base} has oneflow installed")
    for script in (ROOT / "train.py",):
        result = subprocess.run([str(base), str(script), "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1 and "has no oneflow installed" in result.stderr
        assert str(ROOT / ".venv" / "bin" / "python") in result.stderr
