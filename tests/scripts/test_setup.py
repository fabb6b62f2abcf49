"""scripts/setup.sh installs another OneFlow build on request, and a different build means a different .venv stamp."""
import os
import shutil
import sys
import subprocess

from tests.support.runs import ROOT

VARIABLES = ("ONEFLOW_SPEC", "ONEFLOW_FIND_LINKS", "ONEFLOW_INDEX_URL")


def setup(*args, **variables):
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    return subprocess.run(["bash", str(ROOT / "scripts" / "setup.sh"), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**env, **variables})


def test_the_stamp_fingerprint_includes_the_oneflow_build_and_where_it_comes_from():
    default = setup("--print-fingerprint").stdout.strip()
    assert len(default) == 64 and setup("--print-fingerprint").stdout.strip() == default
    builds = [{"ONEFLOW_SPEC": "oneflow>=0.9.1.dev0"},
              {"ONEFLOW_SPEC": "oneflow>=0.9.1.dev0", "ONEFLOW_FIND_LINKS": "https://example.invalid/cu121"},
              {"ONEFLOW_SPEC": "oneflow>=0.9.1.dev0", "ONEFLOW_INDEX_URL": "https://example.invalid/simple"},
              {"ONEFLOW_SPEC": "wheels/oneflow-0.9.1-cp310-cp310-linux_x86_64.whl"}]
    fingerprints = [setup("--print-fingerprint", **build).stdout.strip() for build in builds]
    assert len({default, *fingerprints}) == len(builds) + 1


def test_a_source_without_a_spec_is_refused():
    result = setup(ONEFLOW_FIND_LINKS="https://example.invalid/cu121")
    assert result.returncode == 2 and "also set ONEFLOW_SPEC" in result.stderr


FAKE_PYTHON = """#!/bin/bash
case "$*" in  # pip and the final import check are faked; everything else is the real interpreter
  *"-m pip"*) echo "Requirement already satisfied: six"; echo "Collecting fakepkg==1.0";
              echo "  Downloading fakepkg-1.0-py3-none-any.whl (500.0 MB)"; echo "Successfully installed fakepkg-1.0";;
  *"import engine"*) echo "setup: oneflow 0.9.0, flowvision 0.2.1 import fine";;
  *) exec {python} "$@";;
esac
"""


def test_an_install_shows_each_step_and_what_pip_fetches_and_a_rerun_does_nothing(tmp_path):
    (tmp_path / "scripts").mkdir()
    for name in ("scripts/setup.sh", "requirements.txt", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    fake = tmp_path / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(FAKE_PYTHON.replace("{python}", sys.executable))
    fake.chmod(0o755)
    def run() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(tmp_path / "scripts" / "setup.sh")], capture_output=True, text=True,
                              timeout=60, env={**os.environ, "PYTHON": sys.executable})
    first = run()
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    steps = [line for line in lines if line.startswith("setup: [")]
    assert [line[:12] for line in steps] == [f"setup: [{i}/5]" for i in range(1, 6)]
    assert "  Collecting fakepkg==1.0" in lines and "    Downloading fakepkg-1.0-py3-none-any.whl (500.0 MB)" in lines
    assert not any("already satisfied" in line for line in lines)
    second = run()
    assert second.returncode == 0 and "nothing to do" in second.stdout and len(second.stdout.splitlines()) == 1
