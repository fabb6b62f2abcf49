"""backend/: one framework per process, chosen once; the names it maps; a config for the other framework refused."""
import numpy as np
import pytest

import backend
from backend import oneflow_impl
from engine.config.compose import compose_config
from engine.platform.errors import ConfigError
from tests.support.runs import TINY


def test_a_process_keeps_the_framework_it_chose():
    assert backend.name() == "oneflow" and backend.select("oneflow").__name__ == "oneflow"  # the tests' process
    with pytest.raises(backend.BackendError, match="cannot switch to backend=torch"):
        backend.select("torch")
    with pytest.raises(ValueError):
        backend.select("tensorflow")
    assert backend.version("oneflow") == "0.9.0"


def test_tensors_of_either_framework_are_recognised_without_importing_it():
    assert backend.is_tensor(backend.flow.zeros(2)) and not backend.is_tensor(np.zeros(2)) and not backend.is_tensor(2.0)
    torch = pytest.importorskip("torch")
    assert backend.is_tensor(torch.zeros(2))


def test_optimizer_targets_map_to_the_backends_classes():
    assert oneflow_impl.optimizer_target("oneflow.optim.SGD") == "oneflow.optim.SGD"
    pytest.importorskip("torch")
    from backend import torch_impl

    assert torch_impl.optimizer_target("oneflow.optim.AdamW") == "torch.optim.AdamW"
    assert torch_impl.optimizer_target("optimizers.SGDScheduleFree") == "schedulefree.SGDScheduleFree"
    for name in ("sgd", "adamw", "sgd_schedule_free", "adamw_schedule_free"):  # every conf/optimizer maps to a real class
        module, _, cls = torch_impl.optimizer_target(str(compose_config(f"optimizer={name}").optimizer._target_)).rpartition(".")
        assert callable(getattr(__import__(module, fromlist=[cls]), cls))


def test_a_config_for_the_other_backend_is_refused_by_a_process_running_this_one():
    from engine.training.run import build_run, validated

    with pytest.raises(ConfigError) as refused:
        build_run(validated(compose_config(*TINY, "backend=torch")))
    message = " ".join(str(refused.value).split())
    assert "backend=torch was asked for, but this process already runs backend=oneflow" in message
