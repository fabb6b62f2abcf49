"""scripts/setup.sh installs another OneFlow build on request, and a different build means a different .venv stamp."""
import os
import subprocess

from tests.conftest import ROOT

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
