"""Wrong keys and choices on the command line are named with what was meant (engine/config/suggest.py), and unknown
top-level keys are refused with the valid names (engine/config/schema.py)."""
import pytest

from common.errors import ConfigError
from engine.config.compose import compose_config
from engine.config.schema import validate_config
from engine.config.suggest import check_overrides, did_you_mean


def refusal(*overrides: str) -> str:
    with pytest.raises(ConfigError) as error:
        check_overrides(["train.py", *overrides])
    return str(error.value)


def test_a_key_of_another_group_names_that_key_not_hydras_plus():
    """`scheduler.lr=0.05` got Hydra's hint `+scheduler.lr`, which the schema then refused; neither named optimizer.lr."""
    message = refusal("scheduler.lr=0.05")
    assert "did you mean optimizer.lr?" in message and "+scheduler.lr would not help" in message
    assert "did you mean trainer.max_epochs" in refusal("trainer.max_epoch=3")


def test_a_typo_in_a_choice_gets_the_nearest_choices():
    message = refusal("scheduler=cosin")
    assert "did you mean scheduler=cosine" in message and "wsd" in message  # and every choice
    assert "did you mean experiment=digits" in refusal("-m", "experiment=digit", "seed=0,1")
    assert "scheduler=cosinus" in refusal("scheduler=cosine,cosinus")  # each value of a sweep


def test_valid_command_lines_pass():
    for argv in (["scheduler=cosine", "optimizer.lr=0.1"], ["-m", "experiment=digits_wsd", "scheduler.lr_scheduler.warmup_iters=2"],
                 ["-m", "hparams_search=lr", "experiment=digits", "optimizer.lr=tag(log, interval(0.01, 0.1))"],
                 ["+trainer.nosuchkey=1"], ["~scheduler.lr_scheduler.warmup_iters", "scheduler=wsd"], ["hydra/launcher=parallel"],
                 ["seed=0,1,2", "scheduler=cosine,step"], ["--cfg", "job", "model=tiny"]):
        check_overrides(["train.py", *argv])  # (a `+key` nothing reads is the schema's to refuse)


@pytest.mark.parametrize("key,meant", [("lr", "optimizer.lr"), ("max_epochs", "trainer.max_epochs"), ("seeds", "seed")])
def test_an_unknown_top_level_key_is_refused_with_the_valid_names(key, meant):
    """`+lr=0.5`, `+max_epochs=10` and `+seeds=3` were accepted and the run trained with the defaults."""
    cfg = compose_config("data=synthetic", "model=tiny", f"+{key}=3")
    with pytest.raises(ConfigError) as error:
        validate_config(cfg)
    message = str(error.value)
    assert f"{key} is not a top-level key" in message and f"did you mean {meant}" in message
    assert "the top-level keys: seed, backend, device" in message


def test_did_you_mean_never_offers_the_key_itself():
    assert did_you_mean("seeds", ["seeds", "seed", "trainer.max_epochs"]) == "seed"
    assert did_you_mean("zzz", ["seed"]) is None
