"""train.py's config composed outside the Hydra app: for scripts (bench, schedule previews) and tests."""
from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig
from omegaconf.errors import OmegaConfBaseException

import engine.hydra_resolvers  # noqa: F401  (conf/config.yaml's hydra section uses its resolvers)
from engine.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf"


def compose_config(*overrides: str, hydra_config: bool = False) -> DictConfig:
    """The config `python train.py <overrides>` would run; a bad choice or value raises ConfigError naming it."""
    try:
        with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
            return compose(config_name="config", overrides=list(overrides), return_hydra_config=hydra_config)
    except (HydraException, OmegaConfBaseException) as error:  # Hydra appends its search path: not for users
        raise ConfigError(f"bad override in {list(overrides)}: {str(error).split('Config search path')[0]}") from error
