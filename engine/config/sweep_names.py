"""Sweep job names that show what varies: `scheduler=cosine,seed=1`, not every override of the command line.

A multirun's job directories (and so its TensorBoard run names) are `hydra.job.override_dirname`:
the job's overrides minus `hydra.job.config.override_dirname.exclude_keys`. `varying_names_argv`
rewrites the command line before Hydra parses it, so that the overrides every job shares
(`data=synthetic model=tiny ...`) join the excluded keys, and an excluded key that does vary
(`trainer.log_every_n_steps=10,20`) leaves them, since two jobs must never share a directory.
"""
from __future__ import annotations

from typing import Optional

from omegaconf import OmegaConf

from engine.config.compose import CONF, MULTIRUN_FLAGS, compose_config, is_override, with_overrides

EXCLUDE_KEYS = "hydra.job.config.override_dirname.exclude_keys"
# Config groups whose files may start a sweep themselves (hydra.mode: MULTIRUN, hydra.sweeper.params).
SWEEP_GROUPS = ("experiment", "hparams_search")


def _overrides(argv: list[str]) -> Optional[list]:
    """The parsed task overrides of `argv` (hydra.* ones left out), or None when Hydra would refuse them anyway."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    texts = [arg for arg in argv[1:] if is_override(arg)]
    try:
        parsed = OverridesParser.create().parse_overrides(texts)
    except HydraException:
        return None
    return [o for o in parsed if not (o.key_or_group == "hydra" or o.key_or_group.startswith(("hydra.", "hydra/")))]


def _configured_exclude_keys() -> list[str]:
    """The exclude_keys conf/config.yaml sets (the keys left out of every job name)."""
    node = OmegaConf.select(OmegaConf.load(CONF / "config.yaml"), EXCLUDE_KEYS, default=None)
    return [str(k) for k in node] if node is not None else []


def _config_sweeps(argv: list[str], fixed: list) -> bool:
    """Whether the composed config (e.g. experiment=compare_all) lists sweeper params of its own."""
    try:
        cfg = compose_config(*[o.input_line for o in fixed], hydra_config=True)
    except Exception:  # noqa: BLE001  (a bad override: Hydra reports it when it parses the real command line)
        return False
    return bool(OmegaConf.select(cfg, "hydra.sweeper.params", default=None))


def varying_names_argv(argv: list[str]) -> list[str]:
    """`argv` plus an `exclude_keys` override that leaves only the varying overrides in sweep job names.

    Unchanged when the command line sets exclude_keys itself, when an override does not parse, or when
    nothing would vary (a one-job multirun keeps its full name rather than an empty one)."""
    if any(arg.startswith(EXCLUDE_KEYS + "=") for arg in argv[1:]):
        return argv
    overrides = _overrides(argv)
    if not overrides:
        return argv
    varying = {o.key_or_group for o in overrides if o.is_sweep_override()}
    fixed = [o for o in overrides if not o.is_sweep_override()]
    if not varying:
        may_sweep = any(flag in argv[1:] for flag in MULTIRUN_FLAGS) or any(o.key_or_group in SWEEP_GROUPS for o in fixed)
        if not (may_sweep and _config_sweeps(argv, fixed)):
            return argv
    keys = [k for k in _configured_exclude_keys() if k not in varying]
    keys += sorted({o.key_or_group for o in fixed} - set(keys) - varying)
    return with_overrides(argv, after=[f"{EXCLUDE_KEYS}=[{','.join(repr(k) for k in keys)}]"])  # before any --cfg job
