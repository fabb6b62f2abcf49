"""train.py's config composed outside the Hydra app: for scripts (bench, schedule previews) and tests."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

import engine.config.resolvers  # noqa: F401  (conf/config.yaml's hydra section uses its resolvers)
from engine.platform.errors import ConfigError

CONF = Path(__file__).resolve().parents[2] / "conf"


def compose_config(*overrides: str, hydra_config: bool = False) -> DictConfig:
    """The config `python train.py <overrides>` would run; a bad choice or value raises ConfigError naming it."""
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra_config)
    except (HydraException, OmegaConfBaseException) as error:  # Hydra appends its search path: not for users
        raise ConfigError(f"bad override in {list(overrides)}: {str(error).split('Config search path')[0]}") from error


def is_override(arg: str) -> bool:
    """Whether a command-line argument is a Hydra override (`key=value`), not a flag such as `--cfg`."""
    return "=" in arg and not arg.startswith("-")


def with_overrides(argv: list[str], before: Sequence[str] = (), after: Sequence[str] = ()) -> list[str]:
    """`argv` with `before` inserted ahead of its overrides and `after` behind them; flags stay where they are.

    Hydra takes the overrides as one run of positional arguments: one appended after a flag (`--cfg job`,
    `--resolve`, `--info`, `--package x`) is refused as an unrecognized argument. Later overrides win."""
    positions = [i for i, arg in enumerate(argv[1:], 1) if is_override(arg)]
    start, end = (positions[0], positions[-1] + 1) if positions else (1, 1)
    return [*argv[:start], *before, *argv[start:end], *after, *argv[end:]]


INSPECTION_FLAGS = ("--cfg", "-c", "--info", "-i", "--shell-completion", "-sc")  # print instead of running
MULTIRUN_FLAGS = ("-m", "--multirun")


def refuse_multirun_inspection(argv: list[str]) -> None:
    """Hydra runs one command: `--cfg`/`--info` (print) or `--multirun` (run a sweep), and a traceback for both.

    One paragraph and exit 2 instead, saying how to see a job of the sweep."""
    flags = [a for a in argv[1:] if a.split("=", 1)[0] in INSPECTION_FLAGS]
    if flags and any(a in MULTIRUN_FLAGS for a in argv[1:]):
        from engine.platform.errors import fail
        fail(f"{flags[0].split('=', 1)[0]} prints (a config, Hydra's info) instead of running and cannot be combined with --multirun "
             f"(Hydra runs one command). To see a job of this sweep, drop --multirun and give one value for each swept "
             f"key (e.g. seed=0,1 -> seed=0); --cfg hydra then shows its Hydra settings, --cfg job --resolve its "
             f"resolved config.")
