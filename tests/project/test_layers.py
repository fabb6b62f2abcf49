"""The architecture, enforced: each top-level package imports only the layers below it, and nothing imports tests/."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"common", "backend", "input_pipeline", "models", "optimizers", "schedulers", "engine", "analysis", "explorer", "benchmarks", "scripts",
           "hydra_plugins", "train", "tests"}
# package -> the project packages it may import (itself included)
ALLOWED = {
    "common": {"common"},
    "backend": {"backend"},  # the one place that names the framework (OneFlow or PyTorch): beside common, imports nothing
    "input_pipeline": {"common", "backend", "input_pipeline"},
    "models": {"common", "backend", "models"},
    "schedulers": {"common", "schedulers"},
    "optimizers": {"common", "optimizers"},
    "engine": {"common", "backend", "input_pipeline", "models", "optimizers", "schedulers", "engine"},
    "analysis": {"common", "engine", "analysis"},  # reading many runs: oneflow-free (engine.config.keys only)
    "explorer": {"common", "schedulers", "engine", "analysis", "explorer"},
    # measuring the project's own code, the explorer included (bench_explore): above every library, below scripts
    "benchmarks": {"common", "backend", "input_pipeline", "models", "optimizers", "schedulers", "engine", "analysis", "explorer", "benchmarks"},
    "hydra_plugins": {"common", "engine", "hydra_plugins"},
    "scripts": {"common", "backend", "input_pipeline", "models", "optimizers", "schedulers", "engine", "analysis", "explorer", "benchmarks",
                "scripts"},
    "train": {"common", "backend", "input_pipeline", "models", "optimizers", "schedulers", "engine"},
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


def test_no_function_is_longer_than_60_lines():
    long = []
    for path in [ROOT / "train.py", *sorted((ROOT / "engine").rglob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


MAX_MODULE_LINES = 400  # issue 31: a module longer than this is split by what it does


def test_no_analysis_module_is_longer_than_400_lines():
    long = [f"{p.relative_to(ROOT)} ({n} lines)" for p in sorted((ROOT / "analysis").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES]
    assert not long, long


# comparison.csv's column names are generated from the typed rows in one place; nothing else keys a dict by f-string
COMPUTED_KEYS_ALLOWED = {("analysis/comparison/table.py", "csv_record")}


def test_analysis_rows_are_typed_not_dicts_with_computed_keys():
    found = []
    for path in sorted((ROOT / "analysis").rglob("*.py")):
        tree, name = ast.parse(path.read_text()), str(path.relative_to(ROOT))
        functions = [f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and (name, f.name) in COMPUTED_KEYS_ALLOWED]
        allowed = {inner for function in functions for inner in ast.walk(function)}
        for node in ast.walk(tree):
            keys = [node.slice] if isinstance(node, ast.Subscript) else node.keys if isinstance(node, ast.Dict) else []
            if node not in allowed and any(isinstance(key, ast.JoinedStr) for key in keys):
                found.append(f"{name}:{node.lineno} {ast.unparse(node)[:60]}")
    assert not found, found


# The run directory's own format (engine/run_dir/): summary.json and the TensorBoard event files are read and
# written there only; everything else calls engine.run_dir.summary and engine.run_dir.events.
RUN_DIR = ROOT / "engine" / "run_dir"
TENSORBOARD_NAMES = {"EventAccumulator", "SummaryWriter", "event_accumulator", "EventFileWriter"}
# Reads the lead redirects once the scripts are thinned (issue 21); remove an entry when its script calls the library.
NOT_YET_REDIRECTED: set = set()


def run_dir_file_access(path: Path) -> list[str]:
    """Where `path` names summary.json or an event file as a path (not in a sentence), or uses TensorBoard's readers/writers."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and not any(c.isspace() for c in node.value) \
                and (node.value.endswith("summary.json") or "tfevents" in node.value):
            found.append(f"{node.lineno}: {node.value!r}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(m.split(".")[0] in ("tensorboard", "tensorboardX") for m in modules):
                found.append(f"{node.lineno}: imports {', '.join(modules)}")
        elif isinstance(node, ast.Name) and node.id in TENSORBOARD_NAMES or \
                isinstance(node, ast.Attribute) and node.attr in TENSORBOARD_NAMES:
            found.append(f"{node.lineno}: {getattr(node, 'id', None) or node.attr}")
    return found


@pytest.mark.parametrize("path", [p for p in sources() if RUN_DIR not in p.parents], ids=lambda p: str(p.relative_to(ROOT)))
def test_only_the_run_dir_package_opens_summary_json_and_event_files(path):
    found = run_dir_file_access(path)
    if str(path.relative_to(ROOT)) in NOT_YET_REDIRECTED:
        assert found, f"{path.relative_to(ROOT)} reads the run directory itself no more: drop it from NOT_YET_REDIRECTED"
        return
    assert not found, f"{path.relative_to(ROOT)} reads or writes the run directory's files itself: {found}"


def test_the_platform_layer_never_imports_the_run_directory():
    """engine/platform is the bottom of engine: the run directory hooks into it (errors.failures_recorded_by)."""
    for path in sorted((ROOT / "engine" / "platform").rglob("*.py")):
        imported = {node.module for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {alias.name for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Import) for alias in node.names}
        assert not {m for m in imported if m.startswith("engine.run_dir")}, f"{path.relative_to(ROOT)} imports engine.run_dir"


def test_tests_mirror_the_packages_and_share_only_through_support():
    """Test modules live under the package they test (tests/<package>/..., subprocess runs of train.py in tests/runs/);
    what several share is in tests/support/ or a conftest fixture, never imported from another test module."""
    tests = ROOT / "tests"
    homes = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").is_file()} | {"runs", "project"}
    misplaced, borrowed = [], []
    for path in sorted(tests.rglob("test_*.py")):
        relative = path.relative_to(tests)
        if len(relative.parts) < 2 or relative.parts[0] not in homes:
            misplaced.append(str(relative))
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            borrowed += [f"{relative}: {m}" for m in modules if m.startswith("tests.") and not m.startswith("tests.support")]
    assert not misplaced, f"test modules outside a package's folder: {misplaced}"
    assert not borrowed, f"test modules importing other test modules or conftest: {borrowed}"


# Import cycles still allowed, as sorted pairs: each must say why and go. None is left (issue 31).
CYCLES_NOT_YET_BROKEN: set = set()


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in it: at the top, inside functions, under TYPE_CHECKING.

    `from package import name` counts as importing the submodule `package.name` when there is one, else `package`
    itself; the packages above an imported module are not counted (every import runs them, cycle or not)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package `level - 1` steps above this module's
                above = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*above, base] if base else above)
            candidates = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in modules:  # `import a.b.c` of a name inside a.b: the module a.b
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle of the import graph, one per strongly connected component of two modules or more (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(graph[module]):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_two_modules_import_each_other_even_lazily():
    paths = {module_name(path): path for path in sources()}
    graph = {name: imported_modules(path, set(paths)) for name, path in paths.items()}
    cycles = [cycle for cycle in import_cycles(graph) if tuple(cycle) not in CYCLES_NOT_YET_BROKEN]
    assert not cycles, f"import cycles (lazy and TYPE_CHECKING imports count): {cycles}"


def test_the_cycle_check_finds_lazy_and_longer_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert import_cycles(graph) == [["a", "b", "c"]]
    lazy = ROOT / "engine" / "training" / "stopping.py"  # imports engine.run_dir.files inside a function only
    assert "engine.run_dir.files" in imported_modules(lazy, {module_name(p) for p in sources()})
