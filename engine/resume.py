"""Continuing a run: `resume=<run dir>` on the command line, and refusing configs that change the experiment.

`python train.py resume=runs/2026-11-25/08-00-00` re-uses that run's own command-line overrides
(from its `.hydra/overrides.yaml`), adds the ones given now, and makes the run directory Hydra's
output directory, so the run continues where its last checkpoint stopped. A sweep job re-run in
the same directory continues the same way: whenever the output directory holds a checkpoint.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

from omegaconf import DictConfig, OmegaConf

from engine.config_keys import HARMLESS_KEYS, flatten, is_harmless  # HARMLESS_KEYS: the keys a resumed run may change
from engine.errors import ConfigError, fail

FINAL_STATUSES = ("completed", "diverged")


def _override_key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def resume_argv(argv: list[str]) -> list[str]:
    """`argv` with a `resume=<dir>` expanded into that run's overrides plus `hydra.run.dir=<dir>`."""
    values = [arg.split("=", 1)[1] for arg in argv[1:] if _override_key(arg) == "resume" and "=" in arg]
    if not values or values[-1] in ("", "null", "None"):
        return argv
    run_dir = Path(values[-1]).expanduser()
    overrides_file = run_dir / ".hydra" / "overrides.yaml"
    if not overrides_file.is_file():
        fail(f"resume={values[-1]} is not a run directory of train.py (it has no .hydra/overrides.yaml); give the "
             f"directory a run printed as 'run directory: ...', e.g. runs/<date>/<time>.")
    original = [str(o) for o in OmegaConf.load(overrides_file)
                if _override_key(str(o)) != "resume" and not _override_key(str(o)).startswith("hydra.")]
    # Later overrides win in Hydra: the ones typed now come after the run's own. Hydra records this
    # invocation in .hydra/resume/, so .hydra/ keeps describing how the run was started.
    return [argv[0], *original, *argv[1:], f"hydra.run.dir={run_dir}", "hydra.output_subdir=.hydra/resume"]


def config_differences(saved: dict, current: dict) -> list[str]:
    """`key: saved -> current` for every leaf that differs, except HARMLESS_KEYS (and keys under them)."""
    old, new = flatten(saved), flatten(current)
    return [f"{key}: {old.get(key, '<absent>')!r} -> {new.get(key, '<absent>')!r}"
            for key in sorted(set(old) | set(new)) if not is_harmless(key) and old.get(key, "<absent>") != new.get(key, "<absent>")]


def resolved_config(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)


def check_same_experiment(saved: dict, cfg: DictConfig, checkpoint: Path) -> None:
    differences = config_differences(saved, resolved_config(cfg))
    if differences:
        raise ConfigError(f"cannot resume from {checkpoint}: this config changes the experiment ({'; '.join(differences)}). "
                          f"Resume with the run's own config (only {', '.join(HARMLESS_KEYS[1:6])} and data paths may change), "
                          f"or start a new run in another directory.")


def finished_status(run_dir: Path) -> Optional[str]:
    """'completed' or 'diverged' when the run in `run_dir` already ended that way, else None."""
    path = Path(run_dir) / "summary.json"
    try:
        status = json.loads(path.read_text()).get("status")
    except (OSError, ValueError):
        return None
    return status if status in FINAL_STATUSES else None
