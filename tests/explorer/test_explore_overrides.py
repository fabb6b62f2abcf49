"""explorer.core.apply_value_overrides (the explorer's one use of private Hydra) applies every kind of value override
as compose_config does: pinned kind by kind, so a Hydra upgrade that changes it fails here, not on screen."""
import pytest
from omegaconf import OmegaConf

from engine.config.compose import compose_config
from explorer import core

BASE = ("scheduler=multistep", "data=synthetic")


@pytest.mark.parametrize("override", [
    "scheduler.lr_scheduler.gamma=0.5",                 # a number
    "scheduler.lr_scheduler.milestones=[2,4,'50%']",    # a list, a quoted string in it
    "scheduler.name='multi step'",                      # a quoted string with a space
    "scheduler.monitor=null",                           # null
    "trainer.graph=true",                               # a bool outside the scheduler
    "+scheduler.lr_scheduler.last_epoch=-1",            # + adds a key
    "++scheduler.interval=epoch",                       # ++ sets it, there or not
    "~scheduler.lr_scheduler.gamma",                    # ~ deletes it
])
def test_each_kind_of_override_gives_compose_configs_config(override: str) -> None:
    expected = OmegaConf.to_container(compose_config(*BASE, override))
    cfg = compose_config(*BASE)
    core.apply_value_overrides(cfg, [override])
    assert OmegaConf.to_container(cfg) == expected


def test_a_key_the_config_lacks_is_refused_as_compose_config_refuses_it() -> None:
    with pytest.raises(core.ConfigError, match="scheduler.lr_scheduler.nope"):
        compose_config(*BASE, "scheduler.lr_scheduler.nope=1")
    with pytest.raises(core.ConfigError, match="Could not override 'scheduler.lr_scheduler.nope'"):
        core.compose((*BASE, "scheduler.lr_scheduler.nope=1"))
