"""engine.config.schema.validate_config: every user-facing field is checked once, before anything is built."""
import pytest

from common.errors import ConfigError
from engine.config.compose import CONF, compose_config
from engine.config.schema import MAX_SEED, field_keys, validate_config
from tests.support.runs import assert_clean_failure

# (overrides, words the one message must hold: the field, the bad value, what is valid)
BAD_VALUES = [
    (["optimizer.lr=-1"], ["optimizer.lr=-1", "finite number > 0"]),
    (["optimizer.lr=abc"], ["optimizer.lr='abc'", "finite number > 0"]),
    (["optimizer.lr=nan"], ["optimizer.lr=nan", "finite number > 0"]),
    (["optimizer.momentum=1.5"], ["optimizer.momentum=1.5", "[0, 1)"]),
    (["optimizer.weight_decay=-0.1"], ["optimizer.weight_decay=-0.1", ">= 0"]),
    (["optimizer=adamw", "optimizer.betas=[0.9]"], ["optimizer.betas=[0.9]", "two numbers"]),
    (["data.batch_size=0"], ["data.batch_size=0", "whole number >= 1"]),
    (["data.batch_size=12.5"], ["data.batch_size=12.5", "whole number >= 1"]),
    (["data.eval_batch_size=-1"], ["data.eval_batch_size=-1", "whole number >= 1"]),
    (["data.val_split=-5"], ["data.val_split=-5", "fraction between 0 and 1"]),
    (["data.val_split=1.5"], ["data.val_split=1.5", "fraction between 0 and 1"]),
    (["data=synthetic", "data.val_split=2000"], ["data.val_split=2000", "data.train_size=2000"]),
    (["data.loader=dataloader", "data.num_workers=-3"], ["data.num_workers=-3", ">= 0"]),
    (["data.loader=threads"], ["data.loader='threads'", "device or dataloader"]),
    (["data.backend=cuda"], ["data.backend='cuda'", "auto, numpy, oneflow"]),
    (["data.augment.rotation=400"], ["data.augment.rotation=400", "0..180"]),
    (["data.augment.cutout=-8"], ["data.augment.cutout=-8", ">= 0"]),
    (["data.augment.horizontal_flip=maybe"], ["data.augment.horizontal_flip='maybe'", "true or false"]),
    (["seed=-1"], ["seed=-1", f"0 to {MAX_SEED}"]),
    (["seed=4294967296"], ["seed=4294967296", f"0 to {MAX_SEED}"]),
    (["trainer.max_epochs=0"], ["trainer.max_epochs=0", ">= 1"]),
    (["trainer.log_every_n_steps=0"], ["trainer.log_every_n_steps=0", ">= 1"]),
    (["trainer.checkpoint_every_n_steps=-1"], ["trainer.checkpoint_every_n_steps=-1", ">= 0"]),
    (["trainer.keep_last=0"], ["trainer.keep_last=0", ">= 1"]),
    (["trainer.amp_dtype=float8"], ["trainer.amp_dtype='float8'", "float16 or bfloat16"]),
    (["device=gpu"], ["device='gpu'", "auto, cpu, cuda or cuda:N"]),
    (["data.dataset.labels=medium"], ["data.dataset.labels='medium'", "fine"]),
    # model fields, non-finite numbers anywhere, keys nothing reads, a batch larger than the training set
    (["model=tiny", "model.width=0"], ["model.width=0", "whole number of channels >= 1"]),
    (["model=wrn28_10", "model.depth=27"], ["model.depth=27", "6n+4"]),
    (["model=wrn28_10", "model.dropout=1.5"], ["model.dropout=1.5", "[0, 1)"]),
    (["model.num_classes=1"], ["model.num_classes=1", ">= 2"]),
    (["scheduler.lr_scheduler.T_max=inf"], ["scheduler.lr_scheduler.T_max=inf", "finite"]),
    (["scheduler=multistep", "scheduler.lr_scheduler.milestones=[60,nan]"], ["milestones=[60, nan]", "finite"]),
    (["optimizer.weight_decay=inf"], ["optimizer.weight_decay=inf", ">= 0"]),
    (["+trainer.nosuchkey=1"], ["trainer.nosuchkey is not a key of trainer", "max_epochs, progress"]),
    (["+data.augment.mixup=1"], ["data.augment.mixup", "crop_padding, cutout"]),
    (["+scheduler.warmup=1"], ["scheduler.warmup", "interval, monitor"]),
    (["model=tiny", "+model.depth=3"], ["model.depth", "models.tiny.TinyCNN): num_classes, width"]),
    (["+optimizer.betas=[0.9,0.99]"], ["optimizer.betas", "oneflow.optim.SGD", "momentum"]),
    (["data=synthetic", "+data.dataset.size=3"], ["data.dataset.size", "make_synthetic", "noise"]),
    (["data=synthetic", "data.train_size=256", "data.batch_size=100000"],
     ["data.batch_size=100000 is larger than the 256 images", "data.batch_size=256 or less"]),
    (["data=synthetic", "data.train_size=256", "data.val_split=0.5", "data.batch_size=200"],
     ["data.batch_size=200 is larger than the 128 images", "data.val_split=0.5"]),
]


@pytest.mark.parametrize("overrides,needles", BAD_VALUES, ids=[" ".join(o) for o, _ in BAD_VALUES])
def test_bad_value_is_one_config_error_naming_field_value_and_what_is_valid(overrides, needles):
    # A _target_ in a framework package is checked once its module is imported, as build_run does: import them here,
    # so the outcome does not depend on which test ran before in this process.
    import models.tiny  # noqa: F401
    import oneflow.optim  # noqa: F401
    with pytest.raises(ConfigError) as error:
        validate_config(compose_config(*overrides))
    message = str(error.value)
    for needle in needles:
        assert needle in message, message
    assert "\n" not in message


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as error:
        validate_config(compose_config("optimizer.lr=0", "data.batch_size=0", "seed=-2"))
    assert all(k in str(error.value) for k in ("optimizer.lr=0", "data.batch_size=0", "seed=-2"))


@pytest.mark.parametrize("overrides", [[], ["seed=0"], [f"seed={MAX_SEED}"], ["data.val_split=0.1"], ["data.val_split=5000"],
                                       ["optimizer.lr=1"], ["device=cuda:1"], ["optimizer=adamw"], ["data.num_workers=0"],
                                       ["trainer.amp_dtype=bfloat16"], ["model=wrn28_10", "model.depth=16"],
                                       ["data=synthetic", "data.train_size=256", "data.batch_size=256"],  # full batch
                                       ["+optimizer.nesterov=true"], ["model=flowvision", "model.name=resnet18"]])
def test_valid_values_pass(overrides):
    validate_config(compose_config(*overrides))


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_every_shipped_experiment_is_valid(experiment):
    validate_config(compose_config(f"experiment={experiment}"))


# _base: keys shared, no dataset
@pytest.mark.parametrize("data", sorted(p.stem for p in (CONF / "data").glob("*.yaml") if not p.stem.startswith("_")))
def test_every_shipped_data_config_is_valid(data):
    validate_config(compose_config(f"data={data}"))


def test_schema_keys_exist_in_the_default_config_or_an_alternative():
    """A schema field no config has would silently never be checked (e.g. after a rename)."""
    configs = [compose_config(), compose_config("optimizer=adamw"), compose_config("data=synthetic"),
               compose_config("model=tiny"), compose_config("model=wrn28_10"), compose_config("model=flowvision")]
    from omegaconf import OmegaConf
    missing = [key for key in field_keys() if all(OmegaConf.select(c, key, default="<absent>") == "<absent>" for c in configs)]
    assert missing == ["optimizer.dampening", "optimizer.nesterov", "optimizer.eps"]  # optional optimizer arguments


def test_data_root_that_is_a_file_or_unwritable_is_named_precisely(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        validate_config(compose_config(f"data.dataset.root={a_file}"))
    with pytest.raises(ConfigError, match="cannot write in"):
        validate_config(compose_config("data.dataset.root=/proc"))
    with pytest.raises(ConfigError, match="cannot be created in /proc"):
        validate_config(compose_config("data.dataset.root=/proc/nowhere/data"))
    with pytest.raises(ConfigError, match="is not a directory"):
        validate_config(compose_config(f"data.dataset.root={a_file}/below"))
    # A root to be created inside a writable folder is fine (the reader creates it and says so); nothing is created now.
    validate_config(compose_config(f"data.dataset.root={tmp_path / 'new' / 'data'}"))
    assert not (tmp_path / "new").exists() and sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# train.py end to end: the values the issue lists, each one paragraph on stderr, exit 2, no traceback, no run directory.
CLI_BAD_VALUES = [
    (["optimizer.lr=-1"], "optimizer.lr=-1"),
    (["optimizer.lr=abc"], "optimizer.lr='abc'"),
    (["data.batch_size=0"], "data.batch_size=0"),
    (["seed=-1"], "seed=-1"),
    (["data.loader=dataloader", "data.num_workers=-3"], "data.num_workers=-3"),
    (["data=cifar100", "data.dataset.root=/proc"], "data.dataset.root=/proc"),
    (["optimizer.lr=nan"], "optimizer.lr=nan"),  # was "started with another config: nan -> nan", leaving .hydra/
    (["model.width=0"], "model.width=0"),  # was Hydra's instantiate error with a ZeroDivisionError, exit 1
]


@pytest.mark.parametrize("overrides,needle", CLI_BAD_VALUES, ids=[" ".join(o) for o, _ in CLI_BAD_VALUES])
def test_train_refuses_bad_value_in_one_paragraph(overrides, needle, tmp_path, train):
    result = train("data=synthetic", "model=tiny", *overrides, f"hydra.run.dir={tmp_path / 'run'}")
    assert result.returncode == 2
    assert_clean_failure(result, "error: invalid config", needle)
    paragraph = result.stderr[result.stderr.index("error: "):].strip()  # oneflow may print a libibverbs notice first
    assert result.stderr.count("error: ") == 1 and "\n\n" not in paragraph
    assert all(line.startswith("  ") for line in paragraph.splitlines()[1:])  # continuation lines of one paragraph
    assert not (tmp_path / "run").exists()  # a run stopped at config time leaves no run directory


def test_a_nan_compares_equal_to_itself_when_a_config_is_compared():
    """A config read back from .hydra/config.yaml is the same config, NaN values included."""
    from engine.run_dir.resume import config_differences
    nan = float("nan")
    assert config_differences({"a": nan, "b": [1.0, nan]}, {"a": float("nan"), "b": [1.0, float("nan")]}) == []
    assert config_differences({"a": nan}, {"a": 1.0}) == ["a: nan -> 1.0"]


def test_build_run_takes_only_a_validated_config_and_validated_checks_every_time(monkeypatch):
    """validate_config remembered the last config that passed (a shortcut); now `validated` is the one entry, it
    checks every call, and build_run refuses a config that has not been through it."""
    from engine.config import schema
    from engine.training.run import build_run, validated
    built = []
    monkeypatch.setattr(schema, "build_group", lambda *args: built.append(args[0]))
    cfg = compose_config("data=synthetic", "model=tiny", "device=cpu")
    with pytest.raises(TypeError, match="validated"):
        build_run(cfg)
    config = validated(cfg, ranks=1)
    assert isinstance(config, schema.ValidatedConfig) and config.cfg is cfg and config.ranks == 1
    validated(cfg, ranks=1)
    assert built == [schema.ConfigSchema] * 2  # no memory of the last config: each call checks


def test_the_registered_schema_types_accept_the_shipped_closed_groups():
    """The ConfigStore node `schema` (OmegaConf-typed: a Literal choice is a str there) takes every shipped
    trainer and augmentation as they are, so its types say what the checks accept."""
    from hydra.core.config_store import ConfigStore
    from omegaconf import OmegaConf
    schema = OmegaConf.create(ConfigStore.instance().load("schema.yaml").node)
    assert sorted(schema) == ["backend", "data", "device", "fork", "model", "optimizer", "seed", "trainer"]
    for experiment in sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")):
        cfg = compose_config(f"experiment={experiment}")
        OmegaConf.merge(schema.trainer, cfg.trainer)
        OmegaConf.merge(schema.data.augment, cfg.data.augment)


def test_each_choice_is_kept_once_where_it_is_used():
    """The choices the schema accepts are the Literal aliases of the code that reads the values."""
    from typing import get_args
    from engine.config.schema import AmpDtype
    from engine.training.steps import AMP_DTYPES
    from input_pipeline.loaders import LOADERS
    from input_pipeline.options import Backend, LoaderKind
    assert list(AMP_DTYPES) == list(get_args(AmpDtype)) and list(LOADERS) == list(get_args(LoaderKind))
    for bad, needle in (("data.backend=numpy2", "auto, numpy, oneflow"), ("trainer.amp_dtype=fp8", "float16 or bfloat16")):
        with pytest.raises(ConfigError, match=needle):
            validate_config(compose_config(bad))
    assert get_args(Backend) == ("auto", "numpy", "oneflow")


def test_a_run_saved_before_a_key_existed_is_the_same_experiment_as_that_keys_old_meaning():
    from engine.run_dir.resume import config_differences

    current = {"backend": "oneflow", "trainer": {"val_every_n_steps": 0, "max_epochs": 3}}
    assert config_differences({"trainer": {"max_epochs": 3}}, current) == []  # saved before backend and the key
    changed = {"backend": "torch", "trainer": {"val_every_n_steps": 5, "max_epochs": 3}}
    assert config_differences({"trainer": {"max_epochs": 3}}, changed) == ["backend: 'oneflow' -> 'torch'",
                                                                           "trainer.val_every_n_steps: 0 -> 5"]
