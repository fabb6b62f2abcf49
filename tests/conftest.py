import engine.platform.oneflow_env  # noqa: F401  (before any test imports oneflow)

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_train(*overrides: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run train.py as a user would, in a subprocess with this interpreter."""
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *overrides], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture
def train():
    return run_train
