import engine.platform.oneflow_env  # noqa: F401  (before any test imports oneflow)

import pytest

from tests.support.runs import run_train


@pytest.fixture
def train():
    """train.py in a subprocess, as a user runs it: `train("scheduler=cosine", ...)` -> CompletedProcess."""
    return run_train
