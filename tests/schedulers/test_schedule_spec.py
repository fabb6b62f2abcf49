"""schedulers.spec is the one table of schedule-class facts: every class has a spec, every spec matches its class,
every conf/scheduler YAML composes against the specs, the explorer's fields come from them, and a new class needs
nothing but its spec (checked on a copy of schedulers/ with one class and one spec added)."""
import ast
import importlib
import inspect
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from engine.config.compose import CONF
from engine.config.schema import SCHEDULER_KEYS
from explorer import core
from schedulers import extra, oneflow_fixes
from schedulers.factory import SCHEDULER_TYPES
from schedulers.spec import FREE, SCHEDULER_FIELDS, SPECS, VALID_TARGETS, exact_spec, target_spec

ROOT = Path(__file__).resolve().parents[2]
YAMLS = sorted((CONF / "scheduler").glob("*.yaml"))


def _classes_of(module, defined_here: bool) -> list:
    return [v for n, v in vars(module).items() if inspect.isclass(v) and not n.startswith("_")
            and (v.__module__ == module.__name__ if defined_here else issubclass(v, SCHEDULER_TYPES))]


def test_every_schedule_class_the_factory_accepts_has_its_own_spec():
    from oneflow.optim import lr_scheduler

    classes = [*_classes_of(lr_scheduler, False), *_classes_of(extra, True), *_classes_of(oneflow_fixes, True)]
    assert len(classes) >= 20
    assert [c.__name__ for c in classes if exact_spec(c) is None] == []
    assert len({s.cls for s in SPECS}) == len(SPECS), "one spec per class"


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.target)
def test_each_spec_names_its_class_and_only_real_arguments(spec):
    module, _, name = spec.target.rpartition(".")
    assert getattr(importlib.import_module(module), name) is spec.cls
    assert target_spec(spec.target) is spec
    parameters = set(inspect.signature(spec.cls).parameters)
    named = {*spec.lengths, *spec.rates, *spec.warmups, *spec.args}
    assert named <= parameters, f"{spec.name} has no argument {named - parameters}"
    assert set(spec.warmups) <= set(spec.lengths), "a warmup is a length"
    assert not (spec.graph and spec.graph_rejected), "rejected by nn.Graph or run by it, not both"
    assert not spec.staircase or spec.graph, "a staircase runs in graph mode"
    assert (spec.name in VALID_TARGETS) is spec.scheduler


def test_valid_targets_list_every_schedule_by_the_module_a_target_names():
    assert VALID_TARGETS.startswith("a class of oneflow.optim.lr_scheduler (ConstantLR, LinearLR, ")
    assert "schedulers.oneflow_fixes (PolynomialLR, CosineAnnealingWarmRestarts)" in VALID_TARGETS
    assert VALID_TARGETS.endswith(" or of schedulers.extra (OneCycleLR, CyclicLR, WarmupPlateau, WSD)")
    assert "Noam" not in VALID_TARGETS  # a LambdaLR lr_lambda, not a schedule of its own


def _nodes(node: dict, path: str):
    """(path, node) for every `_target_` node of a scheduler YAML, nested ones included."""
    yield path, node
    for key, value in node.items():
        children = value if isinstance(value, list) else [value]
        for i, child in enumerate(children):
            if isinstance(child, dict) and "_target_" in child:
                yield from _nodes(child, f"{path}.{key}" + (f"[{i}]" if isinstance(value, list) else ""))


@pytest.mark.parametrize("path", YAMLS, ids=lambda p: p.stem)
def test_every_scheduler_yaml_composes_against_the_specs(path):
    cfg = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    assert set(cfg) <= set(SCHEDULER_KEYS) and SCHEDULER_KEYS == tuple(SCHEDULER_FIELDS)
    for where, node in _nodes(cfg["lr_scheduler"], "lr_scheduler"):
        spec = target_spec(node["_target_"])
        assert spec is not None and spec.target == node["_target_"], f"{path.name} {where}: no spec for its _target_"
        parameters = set(inspect.signature(spec.cls).parameters)
        for key in set(node) - {"_target_"}:
            passed = key[: -len("_epochs")] + "_steps" if key.endswith("_epochs") else key
            assert passed in parameters, f"{path.name} {where}.{key}: not an argument of {spec.name}"


@pytest.mark.parametrize("choice", [p.stem for p in YAMLS])
def test_the_explorers_fields_come_from_the_specs(choice):
    """Each form field's kind, choices and range are its node's spec's (SCHEDULER_FIELDS for the top-level keys)."""
    node, _, _ = core.defaults(choice)
    targets, checked = {"scheduler": ""}, 0
    for item in core.scheduler_form(node):
        if isinstance(item, core.Section):
            targets[item.key] = str(core.select({"scheduler": node}, item.key)["_target_"])
            continue
        target = targets[item.key.rsplit(".", 1)[0]]
        if target:
            spec = target_spec(target)
            is_length, arg = item.name in spec.lengths or item.name.endswith("_epochs"), spec.args.get(item.name, FREE)
        else:
            is_length, arg = False, SCHEDULER_FIELDS[item.name]
        if arg.choices:
            assert item.kind == "choice" and item.choices[-len(arg.choices):] == arg.choices, item
        elif is_length and (item.interpolation is not None or isinstance(item.default, (int, float))):
            assert item.kind == "length", item
        elif item.kind in ("int", "float") and item.interpolation is None:
            assert (item.minimum, item.maximum) == (arg.low, arg.high), item
        else:
            continue
        checked += 1
    assert checked >= 3, "interval, monitor and at least one argument of the schedule"


def test_no_other_module_names_a_schedule_class():
    """The factory, the preview, the graph rules, the explorer and the schema read schedule classes from the specs;
    the factory names only the plateau classes, whose placement rules (stepped on a metric) are code, not data."""
    names = {s.name for s in SPECS}
    allowed = {"schedulers/factory.py": {"ReduceLROnPlateau", "WarmupPlateau"}}
    for path in ["schedulers/factory.py", "schedulers/preview.py", "schedulers/graph_rules.py", "explorer/core.py",
                 "engine/config/schema.py"]:
        tree = ast.parse((ROOT / path).read_text())
        used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        used |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        used |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert used & names <= allowed.get(path, set()), path


NEW_CLASS = '''

class Halving(LRScheduler):
    """Halve the LR every `half_life` steps: the test's new schedule class."""

    def __init__(self, optimizer: Optimizer, half_life: int, floor: float = 0.0, last_step: int = -1,
                 verbose: bool = False):
        self.half_life, self.floor = half_life, floor
        super().__init__(optimizer, last_step, verbose)

    def get_lr(self, base_lr: float, step: int) -> float:
        return max(self.floor, base_lr * 0.5 ** (step / self.half_life))
'''
NEW_SPEC = '''    ScheduleSpec(extra.Halving, lengths=("half_life",), closed_form=True, args={"floor": NON_NEGATIVE}),
'''
PROBE = '''
import oneflow as flow
from omegaconf import OmegaConf
from explorer import core
from schedulers import build_lr_schedule, extra, factory
from schedulers.preview import closed_form_lrs
assert extra.__file__.startswith(sys.argv[1]), extra.__file__
node = {"_target_": "schedulers.extra.Halving", "half_life": "25%", "floor": 0.001}
cfg = OmegaConf.create({"name": "halving", "interval": "step", "monitor": None, "lr_scheduler": node})
optimizer = flow.optim.SGD([flow.nn.Parameter(flow.zeros(1))], lr=0.1)
schedule = build_lr_schedule(cfg, optimizer, steps_per_epoch=10, max_epochs=8)
fields = {f.name: f for f in core.scheduler_form({"lr_scheduler": node}) if isinstance(f, core.Field)}
print(schedule.describe()["lr_scheduler"]["args"]["half_life"], len(closed_form_lrs(schedule, 80)),
      "Halving" in factory.VALID_TARGETS, fields["half_life"].kind, fields["floor"].minimum, schedule.supports_graph)
'''


def test_a_new_schedule_class_needs_only_its_spec(tmp_path):
    """On a copy of schedulers/ with one class added to extra.py and one spec to spec.py (nothing else edited), the
    factory converts its length (25% of 8 epochs x 10 steps = 20 steps), the preview evaluates its closed form,
    VALID_TARGETS names it, the explorer shows its fields, and graph mode is refused (its spec does not allow it)."""
    copy = tmp_path / "schedulers"
    shutil.copytree(ROOT / "schedulers", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "extra.py").write_text((copy / "extra.py").read_text() + NEW_CLASS)
    specs = (copy / "spec.py").read_text()
    assert "\n)\n_BY_CLASS" in specs, "SPECS ends before _BY_CLASS"
    (copy / "spec.py").write_text(specs.replace("\n)\n_BY_CLASS", "\n" + NEW_SPEC + ")\n_BY_CLASS", 1))
    probe = f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nsys.path.insert(1, {str(ROOT)!r})\n" + PROBE
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(probe), str(copy)], check=False, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["20", "80", "True", "length", "0.0", "False"]
