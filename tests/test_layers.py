"""The architecture, enforced: each top-level package imports only the layers below it, and nothing imports tests/."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"common", "input_pipeline", "models", "optimizers", "schedulers", "engine", "analysis", "explorer", "benchmarks", "scripts", "hydra_plugins", "train", "tests"}
# package -> the project packages it may import (itself included)
ALLOWED = {
    "common": {"common"},
    "input_pipeline": {"common", "input_pipeline"},
    "models": {"common", "models"},
    "schedulers": {"common", "schedulers"},
    "optimizers": {"common", "optimizers"},
    "engine": {"common", "input_pipeline", "models", "optimizers", "schedulers", "engine"},
    "analysis": {"common", "engine", "analysis"},  # reading many runs: oneflow-free (engine.config.keys only)
    "explorer": {"common", "schedulers", "engine", "analysis", "explorer"},
    # measuring the project's own code, the explorer included (bench_explore): above every library, below scripts
    "benchmarks": {"common", "input_pipeline", "models", "optimizers", "schedulers", "engine", "analysis", "explorer", "benchmarks"},
    "hydra_plugins": {"common", "engine", "hydra_plugins"},
    "scripts": {"common", "input_pipeline", "models", "optimizers", "schedulers", "engine", "analysis", "explorer", "benchmarks",
                "scripts"},
    "train": {"common", "input_pipeline", "models", "optimizers", "schedulers", "engine"},
}


def project_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & PROJECT


def sources():
    yield ROOT / "train.py"
    for package in ALLOWED:
        if (ROOT / package).is_dir():
            yield from sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", list(sources()), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_lower_layers(path):
    layer = path.relative_to(ROOT).parts[0].removesuffix(".py")
    assert project_imports(path) <= ALLOWED[layer], f"{path.relative_to(ROOT)} imports above its layer"


def test_no_function_is_longer_than_about_60_lines():
    long = []
    for path in [ROOT / "train.py", *sorted((ROOT / "engine").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 65:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long
