import engine.platform.oneflow_env  # noqa: F401  (before any test imports oneflow)

import pytest

from tests.support.runs import run_train, train_once
from tests.support.xdist_groups import SLURM, shared_artefact_group


@pytest.fixture
def train():
    """train.py in a subprocess, as a user runs it: `train("scheduler=cosine", ...)` -> CompletedProcess."""
    return run_train


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """One completed run of tests.support.runs.FINISHED for the whole session, trained once as a user starts it.

    Read only: tests that change a run start their own (or copy this one)."""
    return train_once(tmp_path_factory.mktemp("finished") / "run")


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (README's `-n 2 --dist loadgroup`), tests that share a module- or session-scoped artefact
    (a trained run, a study, a served explorer, the local Slurm cluster) run on one worker, so it is made once."""
    order = {}
    for item in items:
        group = shared_artefact_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
        order[item.nodeid] = 0 if group == SLURM else 1 if group else 2
    # The long groups (the Slurm cluster's, then the study's, the explorer's) go out first: no worker is left
    # with one of them at the end while the other idles.
    items.sort(key=lambda item: order[item.nodeid])
