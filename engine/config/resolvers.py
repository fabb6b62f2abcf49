"""OmegaConf resolvers that conf/ uses in its `hydra:` section; importing this module registers them.

train.py imports it (through engine.run_dir.resume) before Hydra composes the config, and the parallel
launcher preloads it in its worker processes, where the job's logging and output folders are set up.
"""
from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Optional

from omegaconf import DictConfig, OmegaConf

from engine.config.keys import JOB_NAME_EXCLUDED_KEYS
from engine.platform.console import job_prefix


def config_subdir_once(subdir: str, *, _root_: DictConfig) -> Optional[str]:
    """`${config_subdir_once:.hydra}`: `subdir` for a new run directory, None (write nothing) for an existing one.

    Hydra saves config.yaml, hydra.yaml and overrides.yaml into hydra.output_subdir before the task
    runs. A run directory that already holds them is a run being resumed or re-run: its saved config
    is what its checkpoints and summary were made with, so it is never rewritten (the task compares
    the new config with it, engine.run_dir.resume.check_run_dir)."""
    output_dir = OmegaConf.select(_root_, "hydra.runtime.output_dir", default=None)
    if output_dir and (Path(str(output_dir)) / subdir / "config.yaml").exists():
        return None
    return subdir


_START_ID = secrets.token_hex(3)  # drawn once per process: every resolution of hydra.run.dir in it agrees


def run_name(schedule: str) -> str:
    """`${run_name:${scheduler.name}}`: `<schedule>_<id>`, the id random per start, so two runs started in the
    same second never share runs/<date>/<time>_... (the schedule kept to letters, digits, `.`, `-` and `_`)."""
    return f"{re.sub(r'[^A-Za-z0-9._-]+', '-', str(schedule)).strip('.-') or 'run'}_{_START_ID}"


def job_name_excluded_keys() -> list[str]:
    """`${job_name_excluded_keys:}`: hydra.job.config.override_dirname.exclude_keys, the harmless keys left out of
    sweep job names (engine.config.keys.JOB_NAME_EXCLUDED_KEYS, the one list)."""
    return list(JOB_NAME_EXCLUDED_KEYS)


def register() -> None:
    for name, resolver in (("config_subdir_once", config_subdir_once), ("job_prefix", job_prefix), ("run_name", run_name),
                           ("job_name_excluded_keys", job_name_excluded_keys)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, resolver, use_cache=False)


register()
