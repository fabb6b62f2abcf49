"""Which pytest-xdist group a test joins (tests/conftest.py marks it): tests that share an expensive artefact made by a
module- or session-scoped fixture run on one worker, where the fixture is made once; the local Slurm cluster is one
machine-wide resource, so every test that uses it runs on one worker too."""
from __future__ import annotations

from typing import Optional

import pytest

SLURM = "slurm"


def shared_artefact_group(item: pytest.Item) -> Optional[str]:
    """`slurm` for the cluster's tests, `session:<fixture>` or `module:<file>` for a shared fixture, else None."""
    if item.get_closest_marker("slurm") or "slurm_cluster" in item.fixturenames:
        return SLURM
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    shared = {}
    for name in item.fixturenames:
        definitions = info.name2fixturedefs.get(name)
        if not definitions or not definitions[-1].baseid:  # pytest's own (tmp_path_factory, ...) are cheap
            continue
        shared.setdefault(definitions[-1].scope, name)
    if "session" in shared:
        return f"session:{shared['session']}"
    if "module" in shared:
        return f"module:{item.path.name}"
    return None
