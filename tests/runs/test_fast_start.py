"""`train.py --help` and a config error import no framework (issue 30, item 19): the config is composed and checked
first, and OneFlow or torch is imported only once a run has chosen one (backend=...). A run does not print OneFlow's
`libibverbs not available` notice (engine.platform.oneflow_env.import_oneflow_quietly)."""
import subprocess
import sys

import pytest

from tests.support.runs import FRAMEWORK_PROBE, ROOT, TINY

PROBE = FRAMEWORK_PROBE


@pytest.mark.parametrize("args, code", [(["--help"], 0), (["optimizer.lr=abc"], 2), (["backend=tensorflow"], 2)])
def test_help_and_config_errors_import_no_framework(args, code):
    result = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == code, result.stderr[-3000:]
    assert "frameworks imported: []" in result.stdout
    assert "Traceback" not in result.stderr
    if args == ["backend=tensorflow"]:
        assert "backend='tensorflow'" in result.stderr and "oneflow or torch" in result.stderr


def test_a_run_does_not_print_the_libibverbs_notice(tmp_path, train):
    result = train(*TINY, "trainer.max_epochs=1", f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "libibverbs" not in result.stderr + result.stdout
