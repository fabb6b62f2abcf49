"""Bad input ends train.py with one paragraph on stderr and a non-zero exit, never a traceback."""
from tests.support.cifar_format import write_archive
from tests.support.runs import assert_clean_failure


def test_unknown_config_choice(train):
    result = train("scheduler=no_such_schedule")
    assert_clean_failure(result, "no_such_schedule", "Available options")


# A missing dataset: tests/runs/test_schedulers_train.py's warning test, whose run stops on it (one start-up for both).


def test_corrupt_archive(tmp_path, train):
    archive = tmp_path / "cifar-100-python.tar.gz"
    write_archive(archive)
    archive.write_bytes(b"not a gzip file at all")
    result = train(f"data.dataset.root={tmp_path}", "model=tiny", f"hydra.run.dir={tmp_path / 'run'}")
    assert_clean_failure(result, "md5", str(archive))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-100-python.tar.gz"]  # nothing extracted, no run directory
