"""Run files and the data root follow the user's umask (0644 files, 0755 folders under umask 022), like any tool."""
import os
import stat
import subprocess
import sys

from input_pipeline.cifar100 import ARCHIVE_NAME, FOLDER_NAME, load_cifar100
from tests.support.cifar_format import write_archive
from tests.support.runs import ROOT
from tests.support.runs import TINY


def _modes(folder):
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_run_files_and_folders_follow_the_umask(tmp_path):
    run_dir = tmp_path / "runs" / "one"
    result = subprocess.run([sys.executable, str(ROOT / "train.py"), *TINY, f"hydra.run.dir={run_dir}"], cwd=ROOT,
                            capture_output=True, text=True, timeout=600, umask=0o022)
    assert result.returncode == 0, result.stderr[-3000:]
    modes = _modes(run_dir)
    for name in (".lock", "train.log", "summary.json", "run_info.json", ".hydra/config.yaml", "checkpoints/best.ckpt"):
        assert name in modes
    assert any(name.startswith("events.out.tfevents.") for name in modes)
    folders = {".", ".hydra", "checkpoints"}
    assert modes == {name: 0o755 if name in folders else 0o644 for name in modes}
    assert stat.S_IMODE((tmp_path / "runs").stat().st_mode) == 0o755


def test_the_data_root_and_the_extracted_dataset_follow_the_umask(tmp_path):
    source = tmp_path / "mirror" / ARCHIVE_NAME
    md5 = write_archive(source)
    root = tmp_path / "shared" / "data"
    previous = os.umask(0o022)
    try:
        load_cifar100(root=str(root), url=source.as_uri(), md5=md5, download=True)
    finally:
        os.umask(previous)
    modes = _modes(tmp_path / "shared")
    folders = {".", "data", f"data/{FOLDER_NAME}"}
    assert set(modes) == folders | {f"data/{ARCHIVE_NAME}", *(f"data/{FOLDER_NAME}/{s}" for s in ("train", "test", "meta"))}
    assert modes == {name: 0o755 if name in folders else 0o644 for name in modes}
